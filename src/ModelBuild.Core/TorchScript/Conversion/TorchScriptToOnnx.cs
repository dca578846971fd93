using ModelBuild.Diagnostics;
using ModelBuild.TorchScript.Conversion.Syntax;
using Onnx;
using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// Converts a TorchScript archive to an ONNX model by running the root module's forward() symbolically (see
/// <see cref="Interpreter"/>). Needs no Python: everything comes from the archive's code/ files and weights.
/// </summary>
public static class TorchScriptToOnnx
{
    public static ModelProto Convert(TorchScriptArchive archive, ConversionOptions options)
    {
        var location = options.Location ?? new SourceLocation(archive.Path);
        if (options.Opset < ConversionOptions.MinOpset || options.Opset > ConversionOptions.MaxOpset)
            throw new ModelBuildException(DiagnosticCodes.UnsupportedModelSource,
                $"converting TorchScript to ONNX opset {options.Opset} is not supported; use an opset from {ConversionOptions.MinOpset} to " +
                $"{ConversionOptions.MaxOpset}", location);
        try
        {
            return ConvertCore(archive, options);
        }
        catch (ConversionError e)
        {
            var where = e.File is null ? "" : $" (code/{e.File}, line {e.Line})";
            throw new ModelBuildException(DiagnosticCodes.UnsupportedTorchScript,
                $"cannot convert TorchScript model '{archive.Path}' to ONNX: {e.Reason}{where}", location, e);
        }
        catch (TorchScriptSyntaxException e)
        {
            throw new ModelBuildException(DiagnosticCodes.UnsupportedTorchScript,
                $"cannot convert TorchScript model '{archive.Path}' to ONNX: cannot parse its code: {e.Message}", location, e);
        }
    }

    private static ModelProto ConvertCore(TorchScriptArchive archive, ConversionOptions options)
    {
        var graph = new GraphBuilder(options.Opset);
        var interpreter = new Interpreter(archive, graph, OpRegistry.CreateDefault());
        var forward = interpreter.MethodOf(archive.Root, "forward");
        foreach (var i in options.Inputs) graph.Reserve(i.Name);
        foreach (var o in options.OutputNames) graph.Reserve(o);

        var args = BindForward(interpreter, forward, options)
            .Select(a => a.Input is { } index ? AddInput(graph, options.Inputs[index]) : a.Value)
            .ToList();
        var result = interpreter.Call(forward, archive.Root, args);
        return Finish(graph, Flatten(result).ToList(), options.OutputNames);
    }

    /// <summary>
    /// How forward() is called, argument by argument: the declared inputs in order for tensor parameters, the
    /// manifest's value (else the signature's default) for flags. Trailing defaults are left out. The same call is
    /// given to libtorch for the parity reference, so both sides run the same specialization.
    /// </summary>
    public static IReadOnlyList<ForwardArgument> ForwardArguments(TorchScriptArchive archive, ConversionOptions options)
    {
        try
        {
            var interpreter = new Interpreter(archive, new GraphBuilder(options.Opset), OpRegistry.CreateDefault());
            var bound = BindForward(interpreter, interpreter.MethodOf(archive.Root, "forward"), options);
            foreach (var a in bound)
                if (a.Input is null && a.Value is not (bool or long or double))
                    throw new ConversionError($"forward() argument '{a.Name}' is {Interpreter.Describe(a.Value)}; only bool, int and float " +
                        $"flags can be passed to PyTorch");
            return bound;
        }
        catch (ConversionError e)
        {
            throw new ModelBuildException(DiagnosticCodes.UnsupportedTorchScript,
                $"cannot call forward() of '{archive.Path}': {e.Reason}", options.Location ?? new SourceLocation(archive.Path), e);
        }
    }

    private static List<ForwardArgument> BindForward(Interpreter interpreter, FunctionDef forward, ConversionOptions options)
    {
        var parameters = forward.Parameters.Skip(1).ToList();
        foreach (var name in options.ConstantArguments.Keys)
            if (parameters.All(p => p.Name != name))
                throw new ConversionError($"export.arguments names '{name}', but forward() has no such argument; its arguments are " +
                    $"{string.Join(", ", parameters.Select(p => p.Name))}") { File = forward.File, Line = forward.Line };

        // Tensor parameters take the declared inputs in order; others are flags: given values, else their defaults.
        var args = new List<ForwardArgument>();
        var explicitCount = 0;
        var nextInput = 0;
        foreach (var p in parameters)
        {
            if (options.ConstantArguments.TryGetValue(p.Name, out var constant))
            {
                args.Add(new ForwardArgument(p.Name, null, Coerce(p, Normalize(constant))));
                explicitCount = args.Count;
                continue;
            }
            if (IsTensorType(p.Type) && nextInput < options.Inputs.Count)
            {
                args.Add(new ForwardArgument(p.Name, nextInput++, null));
                explicitCount = args.Count;
                continue;
            }
            if (p.Default is not null)
            {
                args.Add(new ForwardArgument(p.Name, null, interpreter.EvaluateConstant(p.Default, forward.File)));
                continue;
            }
            if (IsTensorType(p.Type))
                throw new ConversionError($"forward() takes more tensor inputs than the {options.Inputs.Count} declared " +
                    $"(next: '{p.Name}')") { File = forward.File, Line = forward.Line };
            if (ContainerType(p.Type) is { } container)
                throw new ConversionError($"forward() argument '{p.Name}' is {container}: only tensor inputs (and bool/int/float " +
                    "flags) are supported. Models that take lists or dicts (torchvision's detection models take a list of " +
                    "images) deploy as a wrapper module whose forward takes batched tensors and returns tensors, saved with " +
                    "torch.jit.trace or torch.jit.script") { File = forward.File, Line = forward.Line };
            throw new ConversionError($"forward() argument '{p.Name}' is not a tensor; give it a value in export.arguments")
                { File = forward.File, Line = forward.Line };
        }
        if (nextInput < options.Inputs.Count)
            throw new ConversionError($"{options.Inputs.Count} inputs are declared but forward() takes only {nextInput} tensors")
                { File = forward.File, Line = forward.Line };
        args.RemoveRange(explicitCount, args.Count - explicitCount); // the rest take their defaults
        return args;
    }

    /// <summary>Adds the graph outputs (Identity nodes onto the declared names, else output0, output1, …) and wraps the graph as a model.</summary>
    public static ModelProto Finish(GraphBuilder graph, IReadOnlyList<TensorValue> outputs, IReadOnlyList<string> outputNames)
    {
        for (var i = 0; i < outputs.Count; i++)
        {
            var value = outputs[i];
            var name = i < outputNames.Count ? outputNames[i] : $"output{i}";
            if (i >= outputNames.Count) graph.Reserve(name);
            var node = new NodeProto { OpType = "Identity", Name = graph.FreshName("n_output") };
            node.Input.Add(value.Name);
            node.Output.Add(name);
            graph.Graph.Node.Add(node);
            graph.Graph.Output.Add(ValueInfo(name, value.Type, value.Dims.Select(d => d.IsKnown
                ? Dimension.Fixed(d.Value!.Value)
                : Dimension.Dynamic(d.Symbol ?? "")).ToArray()));
        }
        if (outputNames.Count > outputs.Count)
            throw new ConversionError($"{outputNames.Count} outputs are declared but the model returns {outputs.Count}");

        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "ModelBuild",
            ProducerVersion = ToolInfo.Version.ToString(),
            Graph = graph.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = graph.Opset });
        // A parameter that only reached a folded op (a Linear's weight transposed for a 3-D MatMul, a table sliced at
        // conversion time) would otherwise ship beside its folded copy: swin_v2_t's model was 211 MB for 110 MB of weights.
        new GraphEditor(model).RemoveUnusedInitializers();
        return model;
    }

    /// <summary>A manifest value as forward's annotation wants it: an int is a fine float (libtorch would refuse it), the rest must match.</summary>
    private static object? Coerce(Parameter p, object? value)
    {
        var type = (p.Type as NameExpr)?.Name;
        return (type, value) switch
        {
            ("float", long l) => (double)l,
            ("float", double) or ("int", long) or ("bool", bool) or (null, _) => value,
            ("float" or "int" or "bool", _) => throw new ConversionError($"forward() argument '{p.Name}' is {type}, but the manifest gives " +
                $"{Interpreter.Describe(value)}"),
            _ => value,
        };
    }

    private static object? Normalize(object? v) => v switch { int i => (long)i, float f => (double)f, _ => v };

    /// <summary>A list, dict or tuple annotation (Optional of one included) as the code spells it; null for anything else.</summary>
    private static string? ContainerType(Expr? type)
    {
        static string Text(Expr e) => e switch
        {
            NameExpr n => n.Name,
            AttrExpr a => Text(a.Target) + "." + a.Name,
            SubscriptExpr s => $"{Text(s.Target)}[{Text(s.Index)}]",
            TupleExpr t => string.Join(", ", t.Items.Select(Text)),
            _ => "…",
        };
        var inner = type is SubscriptExpr { Target: NameExpr { Name: "Optional" } } optional ? optional.Index : type;
        return inner is SubscriptExpr { Target: NameExpr { Name: "List" or "Dict" or "Tuple" } } ? Text(type!) : null;
    }

    private static bool IsTensorType(Expr? type) => type is null || type is NameExpr { Name: "Tensor" };

    /// <summary>Declares a graph input; named dynamic axes become dim_params.</summary>
    public static TensorValue AddInput(GraphBuilder graph, ConversionInput input)
    {
        graph.Graph.Input.Add(ValueInfo(input.Name, input.Type, input.Shape));
        var dims = input.Shape.Select((d, axis) => d.IsDynamic
            ? SymInt.Dynamic(d.Symbol ?? $"{input.Name}_{axis}", input.Name, axis)
            : SymInt.Of(d.Size!.Value)).ToArray();
        return new TensorValue(input.Name, input.Type, dims);
    }

    /// <summary>Graph outputs in order; None inside a tuple (GoogLeNet's absent aux logits) is no output, as libtorch's
    /// reference outputs skip it too. A dict (scripted torchvision segmentation models return {"out": …}) is refused:
    /// TorchSharp cannot hand libtorch's dict results back, so the reference run could not check the conversion.</summary>
    public static IEnumerable<TensorValue> Flatten(object? result) => result switch
    {
        TensorValue t => [t],
        TupleValue t => t.Items.Where(i => i is not null).SelectMany(Flatten),
        List<object?> l => l.Where(i => i is not null).SelectMany(Flatten),
        Dictionary<object, object?> d => throw new ConversionError($"forward() returns a dict (keys {string.Join(", ",
            d.Keys.Select(k => $"'{k}'"))}); the libtorch reference run cannot read dict outputs, so deploy a wrapper module " +
            "whose forward returns the tensors you serve (for torchvision segmentation: return self.model(x)[\"out\"])"),
        _ => throw new ConversionError($"forward() returns {Interpreter.Describe(result)}; only tensors (or tuples/lists " +
            $"of them) can be graph outputs"),
    };

    private static bool IsIdentifier(string? s) =>
        !string.IsNullOrEmpty(s) && (char.IsLetter(s[0]) || s[0] == '_') && s.All(ch => char.IsLetterOrDigit(ch) || ch == '_');

    private static ValueInfoProto ValueInfo(string name, TensorElementType type, IReadOnlyList<Dimension> dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(!d.IsDynamic ? new TensorShapeProto.Types.Dimension { DimValue = d.Size!.Value }
                : IsIdentifier(d.Symbol) ? new TensorShapeProto.Types.Dimension { DimParam = d.Symbol }
                : new TensorShapeProto.Types.Dimension());
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = Onnx.OnnxTypes.ToOnnx(type), Shape = shape } },
        };
    }
}

/// <summary>One argument of forward(): the index of a declared input (tensor parameters), or a flag's value.</summary>
public sealed record ForwardArgument(string Name, int? Input, object? Value);
