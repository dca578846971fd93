namespace ModelBuild.TorchScript.Conversion;

/// <summary>Python builtins and TorchScript annotations that appear in saved code, evaluated at conversion time.</summary>
public static class Builtins
{
    public static bool TryCall(string name, object?[] args, IReadOnlyDictionary<string, object?> kwargs, Interpreter interp, out object? result)
    {
        result = null;
        switch (name)
        {
            case "annotate":
            case "unchecked_cast":
            case "ops.prim.unchecked_cast":
                result = args[^1];
                return true;
            case "uninitialized":
                return true;
            case "int":
                result = ScalarMath.Unwrap(args[0]) switch
                {
                    SymInt s => s.IsKnown ? s.Value!.Value : s,
                    SymRatio r => ScalarMath.Truncate(r, interp.Emit),
                    double d => (long)Math.Truncate(d),
                    var v => ScalarMath.ToLong(v, "int()"),
                };
                return true;
            case "str":
                result = Ops.ContainerOps.Str(args[0]);
                return true;
            case "float":
                result = ScalarMath.ToDouble(args[0], "float()");
                return true;
            case "bool":
                result = Interpreter.Truth(ScalarMath.Unwrap(args[0]), "bool()");
                return true;
            case "len":
                result = Ops.ContainerOps.Length(args[0]);
                return true;
            case "getattr":
                result = interp.GetAttribute(args[0], (string)args[1]!);
                return true;
            case "range":
            {
                long start = 0, stop, step = 1;
                if (args.Length == 1) stop = ScalarMath.ToLong(args[0], "range");
                else
                {
                    start = ScalarMath.ToLong(args[0], "range");
                    stop = ScalarMath.ToLong(args[1], "range");
                    if (args.Length > 2) step = ScalarMath.ToLong(args[2], "range");
                }
                var list = new List<object?>();
                for (var i = start; step > 0 ? i < stop : i > stop; i += step) list.Add(i);
                result = list;
                return true;
            }
            case "min":
            case "max":
            case "ops.prim.min":
            case "ops.prim.max":
            {
                var pick = name.EndsWith("min", StringComparison.Ordinal) ? "min" : "max";
                var items = args.Length == 1 ? Interpreter.Items(args[0], name) : args;
                var values = items.Select(v => ScalarMath.ToDouble(v, name)).ToArray();
                var best = pick == "min" ? values.Min() : values.Max();
                result = items.All(ScalarMath.IsInt) ? (long)best : best;
                return true;
            }
            case "isinstance":
                throw new ConversionError("isinstance() is not supported");
            case "print":
            case "torch.warn":
                return true;
            default:
                return false;
        }
    }
}
