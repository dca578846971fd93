using System.IO.Compression;
using System.Text;
using ModelBuild.Data;
using ModelBuild.Manifest;
using ModelBuild.TorchScript;

namespace ModelBuild.Core.Tests.TorchScript.Conversion;

/// <summary>
/// Test-only stand-in for TorchScriptReader: reads the fixtures' archives (trusted files written by
/// make_converter_fixtures.py) with a minimal protocol-2 unpickler, so the converter can be tested on its own.
/// </summary>
internal static class TestArchiveLoader
{
    public static TorchScriptArchive Load(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        var root = zip.Entries[0].FullName.Split('/')[0];
        byte[] Read(string name)
        {
            using var s = zip.GetEntry($"{root}/{name}")!.Open();
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            return ms.ToArray();
        }
        var code = zip.Entries.Where(e => e.FullName.StartsWith($"{root}/code/", StringComparison.Ordinal) && e.FullName.EndsWith(".py", StringComparison.Ordinal))
            .ToDictionary(e => e.FullName[$"{root}/code/".Length..], e => Encoding.UTF8.GetString(Read(e.FullName[(root.Length + 1)..])));
        var data = new Unpickler(Read("data.pkl"), key => Read($"data/{key}")).Load();
        var constants = new Unpickler(Read("constants.pkl"), key => Read($"constants/{key}")).Load();
        return new TorchScriptArchive
        {
            Path = path,
            RootFolder = root,
            Root = (ScriptObject)data!,
            Constants = (IReadOnlyList<object?>)constants!,
            CodeFiles = code,
        };
    }

    private sealed record Global(string Module, string Name);
    private sealed record Storage(TensorElementType Type, byte[] Bytes);
    private sealed class Mark;

    private sealed class Unpickler(byte[] bytes, Func<string, byte[]> storage)
    {
        private int _pos;
        private readonly List<object?> _stack = [];
        private readonly Dictionary<int, object?> _memo = [];

        private byte U8() => bytes[_pos++];
        private int I32() { var v = BitConverter.ToInt32(bytes, _pos); _pos += 4; return v; }
        private string Line() { var e = Array.IndexOf(bytes, (byte)'\n', _pos); var s = Encoding.ASCII.GetString(bytes, _pos, e - _pos); _pos = e + 1; return s; }
        private object? Pop() { var v = _stack[^1]; _stack.RemoveAt(_stack.Count - 1); return v; }
        private List<object?> PopMark()
        {
            var i = _stack.FindLastIndex(x => x is Mark);
            var items = _stack.Skip(i + 1).ToList();
            _stack.RemoveRange(i, _stack.Count - i);
            return items;
        }

        public object? Load()
        {
            while (true)
            {
                var op = U8();
                switch (op)
                {
                    case 0x80: _pos++; break;
                    case (byte)'c': _stack.Add(new Global(Line(), Line())); break;
                    case (byte)'q': _memo[U8()] = _stack[^1]; break;
                    case (byte)'r': _memo[I32()] = _stack[^1]; break;
                    case (byte)'h': _stack.Add(_memo[U8()]); break;
                    case (byte)'j': _stack.Add(_memo[I32()]); break;
                    case (byte)'(': _stack.Add(new Mark()); break;
                    case (byte)'t': _stack.Add(PopMark().ToArray()); break;
                    case (byte)')': _stack.Add(Array.Empty<object?>()); break;
                    case 0x85: _stack.Add(new[] { Pop() }); break;
                    case 0x86: { var b = Pop(); var a = Pop(); _stack.Add(new[] { a, b }); break; }
                    case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); _stack.Add(new[] { a, b, c }); break; }
                    case (byte)'Q': _stack.Add(Persistent((object?[])Pop()!)); break;
                    case (byte)'K': _stack.Add((long)U8()); break;
                    case (byte)'M': _stack.Add((long)BitConverter.ToUInt16(bytes, (_pos += 2) - 2)); break;
                    case (byte)'J': _stack.Add((long)I32()); break;
                    case 0x8a:
                    {
                        var n = U8();
                        long v = 0;
                        for (var i = n - 1; i >= 0; i--) v = (v << 8) | bytes[_pos + i];
                        if (n > 0 && n < 8 && (bytes[_pos + n - 1] & 0x80) != 0) v -= 1L << (8 * n);
                        _pos += n;
                        _stack.Add(v);
                        break;
                    }
                    case 0x88: _stack.Add(true); break;
                    case 0x89: _stack.Add(false); break;
                    case (byte)'N': _stack.Add(null); break;
                    case (byte)'G':
                    {
                        var b = bytes[_pos..(_pos + 8)];
                        Array.Reverse(b);
                        _stack.Add(BitConverter.ToDouble(b));
                        _pos += 8;
                        break;
                    }
                    case (byte)'X': { var n = I32(); _stack.Add(Encoding.UTF8.GetString(bytes, _pos, n)); _pos += n; break; }
                    case 0x8c: { var n = U8(); _stack.Add(Encoding.UTF8.GetString(bytes, _pos, n)); _pos += n; break; }
                    case (byte)'}': _stack.Add(new Dictionary<object, object?>()); break;
                    case (byte)']': _stack.Add(new List<object?>()); break;
                    case (byte)'s': { var v = Pop(); var k = Pop(); ((Dictionary<object, object?>)_stack[^1]!)[k!] = v; break; }
                    case (byte)'u':
                    {
                        var items = PopMark();
                        var d = (Dictionary<object, object?>)_stack[^1]!;
                        for (var i = 0; i < items.Count; i += 2) d[items[i]!] = items[i + 1];
                        break;
                    }
                    case (byte)'a': { var v = Pop(); ((List<object?>)_stack[^1]!).Add(v); break; }
                    case (byte)'e': { var items = PopMark(); ((List<object?>)_stack[^1]!).AddRange(items); break; }
                    case (byte)'R': { var args = (object?[])Pop()!; var g = (Global)Pop()!; _stack.Add(Reduce(g, args)); break; }
                    case 0x81:
                    {
                        Pop();
                        var g = (Global)Pop()!;
                        _stack.Add(new ScriptObject { TypeName = $"{g.Module}.{g.Name}", Attributes = new Dictionary<string, object?>() });
                        break;
                    }
                    case (byte)'b':
                    {
                        var state = (Dictionary<object, object?>)Pop()!;
                        var obj = (ScriptObject)_stack[^1]!;
                        var attrs = (Dictionary<string, object?>)obj.Attributes;
                        foreach (var (k, v) in state) attrs[(string)k] = v is object?[] tuple ? tuple : v;
                        break;
                    }
                    case (byte)'.': return Pop();
                    default: throw new InvalidDataException($"pickle opcode 0x{op:x2} at {_pos - 1}");
                }
            }
        }

        private object Persistent(object?[] id)
        {
            var type = ((Global)id[1]!).Name switch
            {
                "FloatStorage" => TensorElementType.Float32,
                "DoubleStorage" => TensorElementType.Float64,
                "LongStorage" => TensorElementType.Int64,
                "IntStorage" => TensorElementType.Int32,
                "BoolStorage" => TensorElementType.Bool,
                "ByteStorage" => TensorElementType.UInt8,
                "HalfStorage" => TensorElementType.Float16,
                var other => throw new InvalidDataException(other),
            };
            return new Storage(type, storage((string)id[2]!));
        }

        private object? Reduce(Global g, object?[] args)
        {
            switch ($"{g.Module}.{g.Name}")
            {
                case "collections.OrderedDict": return new Dictionary<object, object?>();
                case "torch._utils._rebuild_parameter": return args[0];
                case "torch._utils._rebuild_tensor_v2":
                {
                    var s = (Storage)args[0]!;
                    var offset = (long)args[1]!;
                    var shape = ((object?[])args[2]!).Select(x => (long)x!).ToArray();
                    var stride = ((object?[])args[3]!).Select(x => (long)x!).ToArray();
                    return new TorchTensor { ElementType = s.Type, Shape = shape, Values = Materialize(s, offset, shape, stride) };
                }
                default: throw new InvalidDataException($"global {g.Module}.{g.Name}");
            }
        }

        private static NdArray Materialize(Storage s, long offset, long[] shape, long[] stride)
        {
            var clr = NdArray.ClrType(s.Type);
            var size = s.Type == TensorElementType.Bool ? 1 : System.Runtime.InteropServices.Marshal.SizeOf(clr == typeof(Half) ? typeof(short) : clr);
            var all = Array.CreateInstance(clr, s.Bytes.Length / size);
            if (s.Type == TensorElementType.Bool) for (var i = 0; i < s.Bytes.Length; i++) all.SetValue(s.Bytes[i] != 0, i);
            else Buffer.BlockCopy(s.Bytes, 0, all, 0, s.Bytes.Length);
            var count = NdArray.ElementCount(shape);
            var result = Array.CreateInstance(clr, count);
            var index = new long[shape.Length];
            for (long n = 0; n < count; n++)
            {
                long src = offset;
                for (var d = 0; d < shape.Length; d++) src += index[d] * stride[d];
                result.SetValue(all.GetValue(src), n);
                for (var d = shape.Length - 1; d >= 0; d--) { if (++index[d] < shape[d]) break; index[d] = 0; }
            }
            return new NdArray(s.Type, shape, result);
        }
    }
}
