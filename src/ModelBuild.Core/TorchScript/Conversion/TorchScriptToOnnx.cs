using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.TorchScript.Conversion.Syntax;
using Onnx;

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
                $"converting TorchScript to ONNX opset {options.Opset} is not supported; use an opset from {ConversionOptions.MinOpset} to {ConversionOptions.MaxOpset}", location);
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
        var outputNames = options.OutputNames.ToList();
        foreach (var o in outputNames) graph.Reserve(o);

        // Tensor parameters take the declared inputs in order; others are flags: given values, else their defaults.
        var args = new List<object?>();
        var nextInput = 0;
        foreach (var p in forward.Parameters.Skip(1))
        {
            if (options.ConstantArguments.TryGetValue(p.Name, out var constant)) { args.Add(Normalize(constant)); continue; }
            if (IsTensorType(p.Type) && nextInput < options.Inputs.Count)
            {
                args.Add(AddInput(graph, options.Inputs[nextInput++]));
                continue;
            }
            if (p.Default is not null) break; // the rest take their defaults
            if (IsTensorType(p.Type))
                throw new ConversionError($"forward() takes more tensor inputs than the {options.Inputs.Count} declared (next: '{p.Name}')") { File = forward.File, Line = forward.Line };
            throw new ConversionError($"forward() argument '{p.Name}' is not a tensor; give it a value") { File = forward.File, Line = forward.Line };
        }
        if (nextInput < options.Inputs.Count)
            throw new ConversionError($"{options.Inputs.Count} inputs are declared but forward() takes only {nextInput} tensors") { File = forward.File, Line = forward.Line };

        var result = interpreter.Call(forward, archive.Root, args);
        var outputs = Flatten(result).ToList();
        for (var i = 0; i < outputs.Count; i++)
        {
            var value = outputs[i];
            var name = i < outputNames.Count ? outputNames[i] : $"output{i}";
            if (i >= outputNames.Count) graph.Reserve(name);
            var node = new NodeProto { OpType = "Identity", Name = graph.FreshName("n_output") };
            node.Input.Add(value.Name);
            node.Output.Add(name);
            graph.Graph.Node.Add(node);
            graph.Graph.Output.Add(ValueInfo(name, value.Type, value.Dims.Select(d => d.IsKnown ? Dimension.Fixed(d.Value!.Value) : Dimension.Dynamic(d.Symbol ?? "")).ToArray()));
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
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = options.Opset });
        return model;
    }

    private static object? Normalize(object? v) => v switch { int i => (long)i, float f => (double)f, _ => v };

    private static bool IsTensorType(Expr? type) => type is null || type is NameExpr { Name: "Tensor" };

    private static TensorValue AddInput(GraphBuilder graph, ConversionInput input)
    {
        graph.Graph.Input.Add(ValueInfo(input.Name, input.Type, input.Shape));
        var dims = input.Shape.Select((d, axis) => d.IsDynamic ? SymInt.Dynamic(d.Symbol ?? $"{input.Name}_{axis}", input.Name, axis) : SymInt.Of(d.Size!.Value)).ToArray();
        return new TensorValue(input.Name, input.Type, dims);
    }

    private static IEnumerable<TensorValue> Flatten(object? result) => result switch
    {
        TensorValue t => [t],
        TupleValue t => t.Items.SelectMany(Flatten),
        List<object?> l => l.SelectMany(Flatten),
        _ => throw new ConversionError($"forward() returns {Interpreter.Describe(result)}; only tensors (or tuples/lists of them) can be graph outputs"),
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
