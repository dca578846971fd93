using ModelBuild.TorchScript.Conversion.Syntax;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// Runs forward() symbolically: Python-level values (ints, bools, lists, modules) are computed at conversion time,
/// tensors become ONNX values. Submodule calls are inlined, <c>self.x</c> resolves to weights, submodules and
/// constants, and control flow must depend only on values known at conversion time (so it is specialized away).
/// </summary>
public sealed class Interpreter
{
    private const int MaxLoopIterations = 100_000;
    private const int MaxCallDepth = 200;

    private readonly TorchScriptArchive _archive;
    private readonly CodeBase _code;

    /// <summary>Each submodule's attribute path from the top module, recorded as the code reaches it (first path wins).</summary>
    private readonly Dictionary<ScriptObject, string> _paths = new(ReferenceEqualityComparer.Instance);
    private readonly OpRegistry _ops;
    private readonly Dictionary<(ScriptObject Module, string Name), object?> _attributeWrites = new();
    private int _depth;

    public Interpreter(TorchScriptArchive archive, GraphBuilder graph, OpRegistry ops)
    {
        _archive = archive;
        _code = new CodeBase(archive.CodeFiles);
        _ops = ops;
        Emit = new Emitter(graph);
    }

    public Emitter Emit { get; }
    public CodeBase Code => _code;

    private sealed class Frame(Dictionary<string, object?> locals, string file)
    {
        public Dictionary<string, object?> Locals { get; } = locals;
        public string File { get; } = file;
        public object? Result { get; set; }
    }

    private enum Flow { Normal, Return, Break, Continue }

    public FunctionDef MethodOf(ScriptObject obj, string name) =>
        _code.FindClass(obj.TypeName)?.Methods.GetValueOrDefault(name)
        ?? throw new ConversionError($"'{obj.TypeName}' has no method '{name}' in the archive's code");

    public object? Call(FunctionDef function, ScriptObject? self, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?>? kwargs = null)
    {
        if (++_depth > MaxCallDepth) throw new ConversionError($"calls nest deeper than {MaxCallDepth} (recursion?)");
        try
        {
            var scope = Emit.G.Scope;
            if (self is not null) Emit.G.Scope = _paths.GetValueOrDefault(self, scope);
            try
            {
                return CallIn(function, self, args, kwargs);
            }
            finally
            {
                Emit.G.Scope = scope;
            }
        }
        finally { _depth--; }
    }

    private object? CallIn(FunctionDef function, ScriptObject? self, IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?>? kwargs)
    {
        var locals = new Dictionary<string, object?>(StringComparer.Ordinal);
        var parameters = function.Parameters;
        var start = 0;
        if (self is not null && parameters.Count > 0 && parameters[0].Name == "self") { locals["self"] = self; start = 1; }
        var frame = new Frame(locals, function.File);
        var given = args.Count;
        if (given > parameters.Count - start)
            throw new ConversionError($"{function.Name}() takes {parameters.Count - start} arguments but got {given}");
        for (var i = start; i < parameters.Count; i++)
        {
            var p = parameters[i];
            if (i - start < given) locals[p.Name] = args[i - start];
            else if (kwargs is not null && kwargs.TryGetValue(p.Name, out var kv)) locals[p.Name] = kv;
            else if (p.Default is not null) locals[p.Name] = Eval(p.Default, frame);
            else throw new ConversionError($"{function.Name}() is missing argument '{p.Name}'");
        }
        ExecBlock(function.Body, frame);
        return frame.Result;
    }

    private Flow ExecBlock(IReadOnlyList<Stmt> body, Frame frame)
    {
        foreach (var stmt in body)
        {
            Flow flow;
            try { flow = Exec(stmt, frame); }
            catch (ConversionError e) when (e.File is null) { e.File = frame.File; e.Line = stmt.Line; throw; }
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Exec(Stmt stmt, Frame frame)
    {
        switch (stmt)
        {
            case AssignStmt a:
            {
                var value = Eval(a.Value, frame);
                if (a.Targets.Count == 1 && !a.Unpack) { Assign(a.Targets[0], value, frame); return Flow.Normal; }
                var items = Items(value, "unpack");
                if (items.Count != a.Targets.Count)
                    throw new ConversionError($"cannot unpack {items.Count} values into {a.Targets.Count} names");
                for (var i = 0; i < items.Count; i++) Assign(a.Targets[i], items[i], frame);
                return Flow.Normal;
            }
            case ExprStmt e:
                Eval(e.Value, frame);
                return Flow.Normal;
            case ReturnStmt r:
                frame.Result = r.Value is null ? null : Eval(r.Value, frame);
                return Flow.Return;
            case IfStmt i:
            {
                var condition = Eval(i.Condition, frame);
                if (condition is UnknownCondition && AlwaysRaises(i.Then) != AlwaysRaises(i.Else))
                    return ExecBlock(AlwaysRaises(i.Then) ? i.Else : i.Then, frame);
                return ExecBlock(Truth(condition, "if") ? i.Then : i.Else, frame);
            }
            case ForStmt f:
            {
                var items = Items(Eval(f.Iterable, frame), "for");
                foreach (var item in items)
                {
                    if (f.Targets.Count == 1) frame.Locals[f.Targets[0]] = item;
                    else
                    {
                        var parts = Items(item, "unpack");
                        for (var k = 0; k < f.Targets.Count; k++) frame.Locals[f.Targets[k]] = parts[k];
                    }
                    var flow = ExecBlock(f.Body, frame);
                    if (flow == Flow.Return) return flow;
                    if (flow == Flow.Break) break;
                }
                return Flow.Normal;
            }
            case WhileStmt w:
            {
                var n = 0;
                while (Truth(Eval(w.Condition, frame), "while"))
                {
                    if (++n > MaxLoopIterations) throw new ConversionError($"loop runs more than {MaxLoopIterations} times");
                    var flow = ExecBlock(w.Body, frame);
                    if (flow == Flow.Return) return flow;
                    if (flow == Flow.Break) break;
                }
                return Flow.Normal;
            }
            case PassStmt: return Flow.Normal;
            case BreakStmt: return Flow.Break;
            case ContinueStmt: return Flow.Continue;
            case RaiseStmt r:
                throw new ConversionError($"the model raises an exception for these inputs and flags: " +
                    $"{Describe(r.Value is null ? null : Eval(r.Value, frame))}");
            case AssertStmt a:
                // An assertion on a run-time size is an input check, like an if that raises (see UnknownCondition).
                if (Eval(a.Condition, frame) is var holds && holds is not UnknownCondition && !Truth(holds, "assert"))
                    throw new ConversionError("an assertion in the model fails for these inputs and flags");
                return Flow.Normal;
            default:
                throw new ConversionError($"unsupported statement {stmt.GetType().Name}");
        }
    }

    /// <summary>A branch that raises whenever it runs (an input check): <c>raise …</c> or <c>ops.prim.RaiseException(…)</c> at its top level.</summary>
    private static bool AlwaysRaises(IReadOnlyList<Stmt> block) => block.Any(s => s is RaiseStmt
        || s is ExprStmt { Value: CallExpr { Func: AttrExpr { Name: "RaiseException", Target: AttrExpr { Name: "prim" } } } });

    private void Assign(Expr target, object? value, Frame frame)
    {
        switch (target)
        {
            case NameExpr n: frame.Locals[n.Name] = value; break;
            case TupleExpr t:
                var items = Items(value, "unpack");
                for (var i = 0; i < t.Items.Count; i++) Assign(t.Items[i], items[i], frame);
                break;
            // RAFT's correlation block keeps its pyramid on self for the rest of forward: the write lives as long as
            // this conversion, never in the archive (the same archive may be converted again at another opset).
            case AttrExpr { Target: var owner } a when Eval(owner, frame) is ScriptObject module:
                _attributeWrites[(module, a.Name)] = value;
                break;
            case SubscriptExpr s:
                Ops.ContainerOps.SetItem(Eval(s.Target, frame), Eval(s.Index, frame), value);
                break;
            default: throw new ConversionError("assignment to this target is not supported");
        }
    }

    /// <summary>A default value of a signature (False, 0.5, None…), evaluated outside any call.</summary>
    public object? EvaluateConstant(Expr expr, string file) => Eval(expr, new Frame(new Dictionary<string, object?>(StringComparer.Ordinal), file));

    private object? Eval(Expr expr, Frame frame) => expr switch
    {
        ConstExpr c => c.Value,
        NameExpr n => LookupName(n.Name, frame),
        AttrExpr a => GetAttribute(Eval(a.Target, frame), a.Name),
        CallExpr c => EvalCall(c, frame),
        ListExpr l => l.Items.Select(i => Eval(i, frame)).ToList(),
        TupleExpr t => new TupleValue(t.Items.Select(i => Eval(i, frame)).ToArray()),
        SubscriptExpr s => Subscript(Eval(s.Target, frame), s.Index, frame),
        BinaryExpr b when b.Op is "and" or "or" => Logical(b.Op, Eval(b.Left, frame), () => Eval(b.Right, frame)),
        BinaryExpr b => ScalarMath.Binary(b.Op, Eval(b.Left, frame), Eval(b.Right, frame), Emit),
        UnaryExpr { Op: "not" } u => Not(Eval(u.Operand, frame)),
        UnaryExpr u => ScalarMath.Binary("-", 0L, Eval(u.Operand, frame), Emit),
        TernaryExpr t => Eval(Truth(Eval(t.Condition, frame), "if") ? t.Then : t.Else, frame),
        DictExpr d => d.Items.ToDictionary(kv => Ops.ContainerOps.Key(Eval(kv.Key, frame)), kv => Eval(kv.Value, frame)),
        _ => throw new ConversionError($"unsupported expression {expr.GetType().Name}"),
    };

    /// <summary>Python's short-circuit and/or; an unknown side decides nothing unless the other side does.</summary>
    private static object Logical(string op, object? left, Func<object?> right)
    {
        var decisive = op == "or";
        if (left is not UnknownCondition)
        {
            if (Truth(left, op) == decisive) return decisive;
            var value = right();
            return value is UnknownCondition u ? u : Truth(value, op);
        }
        var r = right();
        return r is not UnknownCondition && Truth(r, op) == decisive ? decisive : left;
    }

    public static object Not(object? value) => value is UnknownCondition u ? u : !Truth(value, "not");

    private static object? LookupName(string name, Frame frame)
    {
        if (frame.Locals.TryGetValue(name, out var v)) return v;
        return name switch
        {
            "torch" or "ops" or "__torch__" or "CONSTANTS" or "math" or "builtins" => new QualifiedName(name),
            "Tensor" or "int" or "float" or "bool" or "str" or "List" or "Tuple" or "Optional" or "Dict" or "annotate"
                or "getattr" or "len" or "range" or "uninitialized" or "unchecked_cast" or "isinstance" or "print" or "min" or "max" or "abs"
                or "Device" or "NoneType" or "Final" or "Any" or "Union" or "number" or "Scalar" => new QualifiedName(name),
            // Saved code prints float infinities and NaN as bare names (torch.norm(x, inf, [1]); -inf is a unary minus).
            "inf" => double.PositiveInfinity,
            "nan" => double.NaN,
            _ => throw new ConversionError($"name '{name}' is not defined"),
        };
    }

    public object? GetAttribute(object? target, string name)
    {
        switch (target)
        {
            case QualifiedName { Name: "CONSTANTS" } when name.StartsWith('c') && int.TryParse(name[1..], out var index):
                if (index < 0 || index >= _archive.Constants.Count) throw new ConversionError($"CONSTANTS.{name} is not in constants.pkl");
                return FromArchive(_archive.Constants[index], $"c{index}");
            case QualifiedName q:
                return q.Member(name);
            case ScriptObject obj:
                if (_attributeWrites.TryGetValue((obj, name), out var written)) return written;
                if (obj.Attributes.TryGetValue(name, out var value))
                {
                    if (value is ScriptObject child)
                        _paths.TryAdd(child, _paths.TryGetValue(obj, out var parent) && parent.Length > 0 ? $"{parent}.{name}" : name);
                    return FromArchive(value, name);
                }
                var cls = _code.FindClass(obj.TypeName);
                if (cls?.Constants.TryGetValue(name, out var constant) == true) return Eval(constant, new Frame(new(), cls.Name));
                if (cls?.Methods.TryGetValue(name, out var method) == true) return new BoundMethod(obj, method);
                throw new ConversionError($"module '{obj.TypeName}' has no attribute '{name}'");
            case TensorValue t when name is "shape":
                return t.Dims.ToList<object?>();
            case TensorValue t when name is "dtype":
                return TorchDtype.Code(t.Type);
            case TupleValue { Names: { } names } t when names.ToList().IndexOf(name) is var field and >= 0:
                return t.Items[field];
            default:
                throw new ConversionError($"cannot read attribute '{name}' of {Describe(target)}");
        }
    }

    /// <summary>Archive values become converter values: tensors become initializers (one per tensor object).</summary>
    private object? FromArchive(object? value, string hint) => value switch
    {
        TorchTensor t => Emit.G.Initializer(t, t.Values, hint),
        IReadOnlyList<object?> list => list.Select(v => FromArchive(v, hint)).ToList(),
        Dictionary<object, object?> dict => dict.ToDictionary(p => Ops.ContainerOps.Key(p.Key), p => FromArchive(p.Value, hint)),
        int i => (long)i,
        float f => (double)f,
        _ => value,
    };

    /// <summary>In-place ops that change how a tensor is viewed, not its values: nothing to write back.</summary>
    private static readonly HashSet<string> RestridingInPlace = new(StringComparer.Ordinal)
    {
        "torch.transpose_", "torch.t_", "torch.squeeze_", "torch.unsqueeze_", "torch.swapaxes_", "torch.swapdims_", "torch.resize_",
        "torch.resize_as_", "torch.as_strided_", "torch.detach_", "torch.requires_grad_",
    };

    private object? EvalCall(CallExpr call, Frame frame)
    {
        var func = Eval(call.Func, frame);
        var args = call.Args.Select(a => Eval(a, frame)).ToArray();
        var kwargs = call.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, frame), StringComparer.Ordinal);
        switch (func)
        {
            case BoundMethod m:
                return Call(m.Function, m.Self, args, kwargs);
            case QualifiedName q:
                if (q.Name.StartsWith("__torch__.", StringComparison.Ordinal))
                {
                    if (_code.FindFunction(q.Name) is { } f) return Call(f, null, args, kwargs);
                    // A NamedTuple's constructor (torchvision's GoogLeNetOutputs): a tuple whose fields read by name.
                    if (_code.FindClass(q.Name) is { Fields: { Count: > 0 } fields } && args.Length + kwargs.Count == fields.Count)
                        return new TupleValue(fields.Select((n, k) => k < args.Length ? args[k] : kwargs.GetValueOrDefault(n)).ToArray(), fields);
                    throw ConversionError.Unsupported(q.Name, "no such function in the archive's code");
                }
                if (Builtins.TryCall(q.Name, args, kwargs, this, out var result)) return result;
                var lowering = _ops.Find(q.Name) ?? throw ConversionError.Unsupported(q.Name);
                var op = new OpCall(q.Name, args, kwargs, Emit, this);
                var value = lowering(op);
                // In-place arithmetic (add_, mul_, …) is lowered functionally; on a slice of a computed tensor it also
                // writes back into that tensor.
                if (q.Name.EndsWith('_') && !q.Name.EndsWith("__", StringComparison.Ordinal) && !RestridingInPlace.Contains(q.Name)
                    && args.Length > 0 && args[0] is TensorValue self && value is TensorValue written)
                    Ops.InPlaceOps.WriteBack(op, self, written);
                return value;
            default:
                throw new ConversionError($"{Describe(func)} is not callable");
        }
    }

    private object? Subscript(object? target, Expr indexExpr, Frame frame)
    {
        // Type expressions such as List[int] or Optional[Tensor] (annotate's first argument) only name a type.
        if (target is QualifiedName { Name: "List" or "Tuple" or "Optional" or "Dict" or "Final" or "Union" } typeName)
            return typeName;
        return Ops.ContainerOps.GetItem(target, Eval(indexExpr, frame));
    }

    public static IReadOnlyList<object?> Items(object? value, string what) => value switch
    {
        List<object?> l => l,
        TupleValue t => t.Items,
        IReadOnlyList<object?> r => r,
        Dictionary<object, object?> d => d.Keys.ToList<object?>(),
        _ => throw new ConversionError($"cannot {what} {Describe(value)}"),
    };

    public static bool Truth(object? value, string context) => value switch
    {
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        null => false,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        Dictionary<object, object?> d => d.Count > 0,
        UnknownCondition u => throw new ConversionError(u.Why),
        SymInt { IsKnown: true } s => s.Value != 0,
        TensorValue { Constant: { Length: 1 } c } => c.ToDoubles()[0] != 0,
        TensorValue => throw new ConversionError($"'{context}' depends on tensor values (data-dependent control flow cannot be converted; " +
            $"trace the model or pass flags as constants)"),
        SymInt => throw new ConversionError($"'{context}' depends on a dynamic size; give that axis a fixed size in the manifest"),
        _ => true,
    };

    public static string Describe(object? value) => value switch
    {
        null => "None",
        TensorValue t => $"tensor {t.Type}[{string.Join(",", t.Dims)}]",
        ScriptObject o => $"module {o.TypeName}",
        List<object?> l => $"list of {l.Count}",
        Dictionary<object, object?> d => $"dict of {d.Count}",
        TupleValue t => $"tuple of {t.Items.Count}",
        string s => $"'{s}'",
        _ => value.ToString() ?? value.GetType().Name,
    };
}
