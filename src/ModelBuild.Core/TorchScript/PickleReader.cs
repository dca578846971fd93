using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace ModelBuild.TorchScript;

/// <summary>A pickle global (module + name) as a value: never imported, only interpreted by <see cref="PickleReader"/>'s allowlist.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
    public override string ToString() => FullName;
}

/// <summary>Thrown inside the reader; <see cref="TorchScriptReader"/> turns it into MB2001 with the archive's path.</summary>
internal sealed class PickleException(string message) : Exception(message);

/// <summary>
/// A pickle interpreter that builds plain values and never executes anything: there is no import, no call to
/// arbitrary code. Globals resolve only through <see cref="_resolveCall"/>/<see cref="_resolveGlobal"/>, which know a
/// small allowlist; everything else fails. Works iteratively (no recursion) and every opcode consumes input, so a
/// hostile pickle can neither overflow the stack nor loop.
/// Value model: None → null, bool, int → long, float → double, str → string, bytes → byte[],
/// tuple → object?[], list/set → List&lt;object?&gt;, dict → Dictionary&lt;object, object?&gt;.
/// </summary>
internal sealed class PickleReader
{
    private static readonly object Mark = new();

    private readonly byte[] _data;
    private int _pos;
    private readonly Func<object?, object?> _persistentLoad;
    private readonly Func<PickleGlobal, object?[], object?> _resolveCall;
    private readonly Func<PickleGlobal, object?> _resolveGlobal;
    private readonly Func<object?, object?, object?> _build;

    public PickleReader(byte[] data,
        Func<object?, object?> persistentLoad,
        Func<PickleGlobal, object?> resolveGlobal,
        Func<PickleGlobal, object?[], object?> resolveCall,
        Func<object?, object?, object?> build)
    {
        _data = data;
        _persistentLoad = persistentLoad;
        _resolveGlobal = resolveGlobal;
        _resolveCall = resolveCall;
        _build = build;
    }

    public object? Load()
    {
        var stack = new List<object?>();
        var marks = new Stack<int>();
        var memo = new Dictionary<long, object?>();

        while (true)
        {
            var at = _pos;
            var op = ReadByte();
            switch (op)
            {
                case 0x80: // PROTO
                    var proto = ReadByte();
                    if (proto > 5) throw Fail($"pickle protocol {proto} is not supported");
                    break;
                case 0x95: // FRAME: only a hint for buffered readers
                    ReadBytes(8);
                    break;
                case (byte)'.': // STOP
                    // Like Python's unpickler: the result is the top of the stack.
                    if (stack.Count == 0) throw Fail("pickle ends with an empty stack");
                    return Value(stack[^1]);

                case (byte)'(': marks.Push(stack.Count); stack.Add(Mark); break; // MARK
                case (byte)'0': Pop(stack); break; // POP
                case (byte)'1': PopMark(stack, marks); break; // POP_MARK
                case (byte)'2': stack.Add(Peek(stack)); break; // DUP

                case (byte)'N': stack.Add(null); break;
                case 0x88: stack.Add(true); break;
                case 0x89: stack.Add(false); break;
                case (byte)'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break; // BININT
                case (byte)'K': stack.Add((long)ReadByte()); break; // BININT1
                case (byte)'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break; // BININT2
                case 0x8a: stack.Add(ReadLong(ReadByte())); break; // LONG1
                case 0x8b: // LONG4
                    var n4 = BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4));
                    if (n4 < 0 || n4 > 8) throw Fail("integer wider than 64 bits");
                    stack.Add(ReadLong(n4));
                    break;
                case (byte)'I': stack.Add(ParseTextInt(ReadLine())); break; // INT (also True/False as 01/00)
                case (byte)'L': stack.Add(ParseTextInt(ReadLine().TrimEnd('L'))); break; // LONG
                case (byte)'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break; // BINFLOAT
                case (byte)'F': // FLOAT
                    var ftext = ReadLine();
                    if (!double.TryParse(ftext, NumberStyles.Float, CultureInfo.InvariantCulture, out var f)) throw Fail($"bad float '{ftext}'");
                    stack.Add(f);
                    break;

                case (byte)'X': stack.Add(Utf8(ReadBytes(ReadLength(4)))); break; // BINUNICODE
                case 0x8c: stack.Add(Utf8(ReadBytes(ReadByte()))); break; // SHORT_BINUNICODE
                case 0x8d: stack.Add(Utf8(ReadBytes(ReadLength(8)))); break; // BINUNICODE8
                case (byte)'T': stack.Add(Encoding.Latin1.GetString(ReadBytes(ReadLength(4)))); break; // BINSTRING
                case (byte)'U': stack.Add(Encoding.Latin1.GetString(ReadBytes(ReadByte()))); break; // SHORT_BINSTRING
                case (byte)'B': stack.Add(ReadBytes(ReadLength(4)).ToArray()); break; // BINBYTES
                case (byte)'C': stack.Add(ReadBytes(ReadByte()).ToArray()); break; // SHORT_BINBYTES
                case 0x8e: stack.Add(ReadBytes(ReadLength(8)).ToArray()); break; // BINBYTES8
                case 0x96: stack.Add(ReadBytes(ReadLength(8)).ToArray()); break; // BYTEARRAY8

                case (byte)')': stack.Add(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case (byte)'t': stack.Add(PopMark(stack, marks).ToArray()); break; // TUPLE
                case 0x85: stack.Add(new[] { Pop(stack) }); break; // TUPLE1
                case 0x86: { var b = Pop(stack); var a = Pop(stack); stack.Add(new[] { a, b }); break; } // TUPLE2
                case 0x87: { var c = Pop(stack); var b = Pop(stack); var a = Pop(stack); stack.Add(new[] { a, b, c }); break; } // TUPLE3
                case (byte)']': stack.Add(new List<object?>()); break; // EMPTY_LIST
                case (byte)'l': stack.Add(PopMark(stack, marks)); break; // LIST
                case (byte)'a': { var v = Pop(stack); AsList(Peek(stack), "APPEND").Add(v); break; } // APPEND
                case (byte)'e': { var items = PopMark(stack, marks); AsList(Peek(stack), "APPENDS").AddRange(items); break; } // APPENDS
                case (byte)'}': stack.Add(new Dictionary<object, object?>()); break; // EMPTY_DICT
                case (byte)'d': // DICT
                {
                    var items = PopMark(stack, marks);
                    var dict = new Dictionary<object, object?>();
                    SetItems(dict, items);
                    stack.Add(dict);
                    break;
                }
                case (byte)'s': { var v = Pop(stack); var k = Pop(stack); SetItems(AsDict(Peek(stack), "SETITEM"), [k, v]); break; } // SETITEM
                case (byte)'u': { var items = PopMark(stack, marks); SetItems(AsDict(Peek(stack), "SETITEMS"), items); break; } // SETITEMS
                case 0x8f: stack.Add(new List<object?>()); break; // EMPTY_SET
                case 0x90: { var items = PopMark(stack, marks); AsList(Peek(stack), "ADDITEMS").AddRange(items); break; } // ADDITEMS
                case 0x91: stack.Add(PopMark(stack, marks)); break; // FROZENSET

                case (byte)'p': Memo(memo, ParseTextInt(ReadLine()), Peek(stack)); break; // PUT
                case (byte)'q': Memo(memo, ReadByte(), Peek(stack)); break; // BINPUT
                case (byte)'r': Memo(memo, BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)), Peek(stack)); break; // LONG_BINPUT
                case 0x94: Memo(memo, memo.Count, Peek(stack)); break; // MEMOIZE
                case (byte)'g': stack.Add(Recall(memo, ParseTextInt(ReadLine()))); break; // GET
                case (byte)'h': stack.Add(Recall(memo, ReadByte())); break; // BINGET
                case (byte)'j': stack.Add(Recall(memo, BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break; // LONG_BINGET

                case (byte)'c': // GLOBAL
                {
                    var module = ReadLine();
                    var name = ReadLine();
                    stack.Add(_resolveGlobal(new PickleGlobal(module, name)));
                    break;
                }
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop(stack) as string ?? throw Fail("STACK_GLOBAL needs string names");
                    var module = Pop(stack) as string ?? throw Fail("STACK_GLOBAL needs string names");
                    stack.Add(_resolveGlobal(new PickleGlobal(module, name)));
                    break;
                }
                case (byte)'R': // REDUCE
                {
                    var args = Pop(stack) as object?[] ?? throw Fail("REDUCE needs an argument tuple");
                    stack.Add(Call(Pop(stack), args));
                    break;
                }
                case 0x81: // NEWOBJ
                {
                    var args = Pop(stack) as object?[] ?? throw Fail("NEWOBJ needs an argument tuple");
                    stack.Add(Call(Pop(stack), args));
                    break;
                }
                case 0x92: // NEWOBJ_EX
                {
                    var kwargs = Pop(stack);
                    var args = Pop(stack) as object?[] ?? throw Fail("NEWOBJ_EX needs an argument tuple");
                    if (kwargs is Dictionary<object, object?> { Count: > 0 }) throw Fail("NEWOBJ_EX with keyword arguments is not supported");
                    stack.Add(Call(Pop(stack), args));
                    break;
                }
                case (byte)'b': // BUILD
                {
                    var state = Pop(stack);
                    var target = Pop(stack);
                    stack.Add(_build(target, state));
                    break;
                }
                case (byte)'Q': stack.Add(_persistentLoad(Pop(stack))); break; // BINPERSID
                case (byte)'P': stack.Add(_persistentLoad(ReadLine())); break; // PERSID

                default:
                    // INST/OBJ (protocol 0/1 instantiation), EXT*, out-of-band buffers, …: never written by torch.jit.save.
                    throw Fail($"unsupported pickle opcode 0x{op:X2} at byte {at}");
            }
        }
    }

    private object? Call(object? callable, object?[] args) => callable switch
    {
        PickleGlobal g => _resolveCall(g, args),
        _ => throw Fail($"cannot call a {Describe(callable)}"),
    };

    internal static string Describe(object? v) => v switch
    {
        null => "None",
        PickleGlobal g => g.FullName,
        _ => v.GetType().Name,
    };

    private static void SetItems(Dictionary<object, object?> dict, List<object?> items)
    {
        if (items.Count % 2 != 0) throw new PickleException("odd number of items for a dict");
        for (var i = 0; i < items.Count; i += 2)
        {
            var key = items[i] ?? throw new PickleException("dict key None is not supported");
            dict[key] = items[i + 1];
        }
    }

    private static List<object?> AsList(object? v, string op) =>
        v as List<object?> ?? throw new PickleException($"{op} on a {Describe(v)}, not a list");

    private static Dictionary<object, object?> AsDict(object? v, string op) =>
        v as Dictionary<object, object?> ?? throw new PickleException($"{op} on a {Describe(v)}, not a dict");

    private static void Memo(Dictionary<long, object?> memo, long key, object? value)
    {
        if (key < 0) throw Fail("negative memo index");
        memo[key] = value;
    }

    private static object? Recall(Dictionary<long, object?> memo, long key) =>
        memo.TryGetValue(key, out var v) ? v : throw Fail($"memo index {key} was never stored");

    private static object? Pop(List<object?> stack)
    {
        if (stack.Count == 0) throw Fail("stack underflow");
        var v = stack[^1];
        if (ReferenceEquals(v, Mark)) throw Fail("unexpected MARK");
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    private static object? Peek(List<object?> stack)
    {
        if (stack.Count == 0 || ReferenceEquals(stack[^1], Mark)) throw Fail("stack underflow");
        return stack[^1];
    }

    private static List<object?> PopMark(List<object?> stack, Stack<int> marks)
    {
        if (marks.Count == 0) throw Fail("no MARK on the stack");
        var m = marks.Pop();
        var items = stack.GetRange(m + 1, stack.Count - m - 1);
        stack.RemoveRange(m, stack.Count - m);
        return items;
    }

    private static object? Value(object? v) => ReferenceEquals(v, Mark) ? throw new PickleException("MARK left on the stack") : v;

    private byte ReadByte()
    {
        if (_pos >= _data.Length) throw Fail("truncated pickle (no STOP)");
        return _data[_pos++];
    }

    private ReadOnlySpan<byte> ReadBytes(long count)
    {
        if (count < 0 || count > _data.Length - _pos) throw Fail($"truncated pickle: needs {count} bytes at byte {_pos}, {_data.Length - _pos} left");
        var span = _data.AsSpan(_pos, (int)count);
        _pos += (int)count;
        return span;
    }

    private long ReadLength(int width)
    {
        var bytes = ReadBytes(width);
        var n = width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(bytes) : (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        // Checked against what is left before anything is allocated.
        if (n < 0 || n > _data.Length - _pos) throw Fail($"truncated pickle: a {n}-byte value at byte {_pos}, {_data.Length - _pos} left");
        return n;
    }

    private long ReadLong(int n)
    {
        if (n > 8) throw Fail("integer wider than 64 bits");
        var bytes = ReadBytes(n);
        if (n == 0) return 0;
        long v = (sbyte)bytes[n - 1]; // sign from the most significant byte
        for (var i = n - 2; i >= 0; i--) v = (v << 8) | bytes[i];
        return v;
    }

    private string ReadLine()
    {
        var end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0) throw Fail("truncated pickle: missing newline");
        var s = Encoding.UTF8.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private static long ParseTextInt(string s) => s switch
    {
        "00" => 0, // False in protocol 0
        "01" => 1,
        _ => long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : throw Fail($"bad integer '{s}'"),
    };

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private static string Utf8(ReadOnlySpan<byte> bytes)
    {
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { throw Fail("string is not valid UTF-8"); }
    }

    private static PickleException Fail(string message) => new(message);
}
