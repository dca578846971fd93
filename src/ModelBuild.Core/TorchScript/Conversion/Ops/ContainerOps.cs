using System.Globalization;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>
/// Python lists, dicts and strings as scripted code uses them, evaluated at conversion time: torchvision's
/// IntermediateLayerGetter fills a dict (<c>torch.dict()</c>, <c>torch._set_item</c>, <c>torch.__contains__</c>),
/// functional code checks <c>mode in ["batch", "row"]</c>, and nn.MultiheadAttention builds "why not the fast path"
/// strings (<c>torch.format</c>, <c>len</c>). Dicts are Dictionary&lt;object, object?&gt; (insertion-ordered, as the
/// pickle reader makes them); keys are strings or longs.
/// </summary>
public static class ContainerOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Length(c.Arg(0, "a")), "len");
        r.Add(c => c.Arg(0, "a") is List<object?> l ? new List<object?>(l) : Interpreter.Items(c.Arg(0, "a"), "list").ToList(), "list");
        r.Add(c => Copy(c.Arg(0, "self")), "copy");
        r.Add(c =>
        {
            var list = c.Arg(0, "self") as List<object?> ?? throw c.Unsupported("append to a non-list");
            list.Add(c.Arg(1, "el"));
            return list;
        }, "append");
        r.Add(c =>
        {
            var list = c.Arg(0, "self") as List<object?> ?? throw c.Unsupported("extend of a non-list");
            list.AddRange(Interpreter.Items(c.Arg(1, "other"), "extend a list with"));
            return null;
        }, "extend");
        r.Add(c =>
        {
            var list = c.Arg(0, "self") as List<object?> ?? throw c.Unsupported("insert into a non-list");
            list.Insert((int)Math.Clamp(Index(c.Int(1, "idx"), list.Count), 0, list.Count), c.Arg(2, "el")); // Python clamps
            return null;
        }, "insert");
        r.Add(c =>
        {
            var list = c.Arg(0, "self") as List<object?> ?? throw c.Unsupported("pop from a non-list");
            var i = Position(c.Int(1, "idx", -1), list.Count);
            var item = list[i];
            list.RemoveAt(i);
            return item;
        }, "pop");
        r.Add(c => GetItem(c.Arg(0, "self"), c.Arg(1, "idx")), "__getitem__", "ops.aten.__getitem__");
        r.Add(c => SetItem(c.Arg(0, "l"), c.Arg(1, "idx"), c.Arg(2, "el")), "_set_item");
        r.Add(c => Contains(c.Arg(0, "self"), c.Arg(1, "key")), "__contains__");
        r.Add(c => new Dictionary<object, object?>(), "dict");
        r.Add(c => Dict(c).Keys.ToList<object?>(), "keys");
        r.Add(c => Dict(c).Values.ToList(), "values");
        r.Add(c => Dict(c).Select(p => (object?)new TupleValue([p.Key, p.Value])).ToList(), "items");
        r.Add(c => Dict(c).TryGetValue(Key(c.Arg(1, "key")), out var v) ? v : c.Arg(2, "default_value"), "get");
        // for i in range(lo, hi, step) is saved as range(__range_length(lo, hi, step)) with __derive_index(k, lo, step).
        r.Add(c =>
        {
            long lo = c.Int(0, "lo"), hi = c.Int(1, "hi"), step = c.Int(2, "step");
            if (step == 0) throw c.Unsupported("range() with step 0");
            return Math.Max(0, step > 0 ? (hi - lo + step - 1) / step : (lo - hi - step - 1) / -step);
        }, "__range_length");
        r.Add(c => c.Int(1, "start") + c.Int(0, "index") * c.Int(2, "step"), "__derive_index");
        r.Add(c => Bools(c).All(b => b), "all");
        r.Add(c => Bools(c).Any(b => b), "any");
        r.Add(c =>
        {
            var text = c.Arg(0, "self") as string ?? throw c.Unsupported("find in a non-string");
            var start = (int)Math.Clamp(c.Int(2, "start", 0), 0, text.Length);
            var end = (int)Math.Clamp(c.Int(3, "end", text.Length), start, text.Length);
            var at = text.IndexOf(c.String(1, "substr") ?? "", start, end - start, StringComparison.Ordinal);
            return (long)at;
        }, "find");
        r.Add(c => Format(c.Arg(0, "self") as string ?? "", c.Args.Skip(1)), "format");
    }

    /// <summary>all()/any() of a Python list; the tensor reductions of the same name are not lowered.</summary>
    private static IEnumerable<bool> Bools(OpCall c) => c.Arg(0, "self") is TensorValue
        ? throw c.Unsupported("of a tensor (only of a list of bools)")
        : Interpreter.Items(c.Arg(0, "self"), c.Op).Select(v => Interpreter.Truth(ScalarMath.Unwrap(v), c.Op));

    public static object Length(object? value) => value switch
    {
        string s => (long)s.Length,
        Dictionary<object, object?> d => (long)d.Count,
        TensorValue t => t.Dims[0] is { IsKnown: true } d0 ? d0.Value!.Value : t.Dims[0],
        _ => (long)Interpreter.Items(value, "len").Count,
    };

    /// <summary>d[key], list[i], tuple[i].</summary>
    public static object? GetItem(object? target, object? index)
    {
        if (target is Dictionary<object, object?> d)
            return d.TryGetValue(Key(index), out var v) ? v : throw new ConversionError($"key {Interpreter.Describe(index)} is not in the dict");
        var items = target switch
        {
            List<object?> l => l,
            TupleValue t => t.Items,
            _ => throw new ConversionError($"cannot index {Interpreter.Describe(target)} (tensor indexing appears as torch.select/slice in saved code)"),
        };
        return items[Position(ScalarMath.ToLong(index, "index"), items.Count)];
    }

    public static object? SetItem(object? target, object? index, object? value)
    {
        switch (target)
        {
            case Dictionary<object, object?> d: d[Key(index)] = value; return null;
            case List<object?> l: l[Position(ScalarMath.ToLong(index, "index"), l.Count)] = value; return null;
            default: throw new ConversionError($"cannot assign an item of {Interpreter.Describe(target)}");
        }
    }

    public static bool Contains(object? container, object? item) => container switch
    {
        Dictionary<object, object?> d => d.ContainsKey(Key(item)),
        string s => item is string sub ? s.Contains(sub, StringComparison.Ordinal)
            : throw new ConversionError($"'in <string>' needs a string, got {Interpreter.Describe(item)}"),
        _ => Interpreter.Items(container, "search").Any(x => PlainEquals(x, item)),
    };

    private static bool PlainEquals(object? a, object? b)
    {
        a = ScalarMath.Unwrap(a);
        b = ScalarMath.Unwrap(b);
        if (a is TensorValue || b is TensorValue)
            throw new ConversionError("'in' on a list of tensors compares tensor values, which are not known when converting");
        if (a is null || b is null) return a is null && b is null;
        if (a is string || b is string) return a is string x && b is string y && x == y;
        if (a is SymInt { IsKnown: false } || b is SymInt { IsKnown: false })
            return a is SymInt sa && b is SymInt sb && sa.SameAs(sb)
                ? true : throw new ConversionError("'in' compares a dynamic size; give that axis a fixed size in the manifest");
        if (ScalarMath.IsScalar(a) && ScalarMath.IsScalar(b)) return ScalarMath.ToDouble(a, "in") == ScalarMath.ToDouble(b, "in");
        return Equals(a, b);
    }

    private static object Copy(object? value) => value switch
    {
        List<object?> l => new List<object?>(l),
        Dictionary<object, object?> d => new Dictionary<object, object?>(d),
        _ => throw new ConversionError($"cannot copy {Interpreter.Describe(value)}"),
    };

    private static Dictionary<object, object?> Dict(OpCall c) =>
        c.Arg(0, "self") as Dictionary<object, object?> ?? throw c.Unsupported($"expected a dict, got {Interpreter.Describe(c.Arg(0, "self"))}");

    /// <summary>Dict keys as the pickle reader and the interpreter both make them (ints as long).</summary>
    public static object Key(object? key) => ScalarMath.Unwrap(key) switch
    {
        null => throw new ConversionError("None as a dict key is not supported"),
        int i => (long)i,
        SymInt { IsKnown: true } s => s.Value!.Value,
        SymInt => throw new ConversionError("a dict key depends on a dynamic size; give that axis a fixed size in the manifest"),
        TensorValue => throw new ConversionError("tensors as dict keys are not supported"),
        var k => k,
    };

    private static long Index(long i, long count) => i < 0 ? i + count : i;

    /// <summary>Python's index into a sequence of <paramref name="count"/> (negative from the end), checked.</summary>
    private static int Position(long i, int count) => Index(i, count) is var at && at >= 0 && at < count
        ? (int)at : throw new ConversionError($"index {i} out of range for a sequence of {count}");

    /// <summary>str.format with positional "{}" fields: the text only feeds messages and "is it empty" checks.</summary>
    private static string Format(string format, IEnumerable<object?> args)
    {
        var values = args.Select(Str).ToList();
        var builder = new System.Text.StringBuilder();
        var next = 0;
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] == '{' && i + 1 < format.Length && format[i + 1] == '{') { builder.Append('{'); i++; }
            else if (format[i] == '}' && i + 1 < format.Length && format[i + 1] == '}') { builder.Append('}'); i++; }
            else if (format[i] == '{' && format.IndexOf('}', i) is var close and > 0)
            {
                builder.Append(next < values.Count ? values[next++] : "");
                i = close;
            }
            else builder.Append(format[i]);
        }
        return builder.ToString();
    }

    /// <summary>Python's str() of a conversion-time value.</summary>
    public static string Str(object? value) => ScalarMath.Unwrap(value) switch
    {
        null => "None",
        string s => s,
        OpaqueValue { Description: "device" } => "cpu", // converted graphs run wherever ONNX Runtime puts them
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        List<object?> l => "[" + string.Join(", ", l.Select(Str)) + "]",
        TupleValue t => "(" + string.Join(", ", t.Items.Select(Str)) + ")",
        var other => Interpreter.Describe(other),
    };
}
