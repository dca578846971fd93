using ImageLayout = ModelBuild.Runtime.ImageLayout;
using System.Globalization;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Targets;

/// <summary>
/// The ONNX model of the ensemble's first step: raw image [batch, h, w(, c)] → Cast float → Div scale → Sub mean →
/// Div std → the model's layout (Unsqueeze the channel axis, or Transpose HWC to CHW).
/// </summary>
public static class PreprocessingModel
{
    /// <summary>Opset 13: Unsqueeze takes its axes as an input; old enough for every Triton ONNX Runtime backend.</summary>
    public const long Opset = 13;

    /// <summary>The model input the preprocessing feeds, checked against the declared raw image.</summary>
    /// <exception cref="ModelBuildException"><see cref="DiagnosticCodes.InvalidValue"/> at <c>preprocessing</c>.</exception>
    public static TensorInfo Target(ModelInterface model, PreprocessingSpec pre)
    {
        var where = pre.Location;
        if (model.Inputs.Count != 1)
            throw Invalid($"preprocessing feeds one image input, but the model has {model.Inputs.Count}: " +
                          string.Join(", ", model.Inputs.Select(i => $"'{i.Name}'")), where);
        var target = model.Inputs[0];
        if (target.ElementType != TensorElementType.Float32)
            throw Invalid($"preprocessing produces float32, but the model's input '{target.Name}' is {OnnxTypes.ManifestName(target.ElementType)}", where);
        if (target.Dims.Count != 4)
            throw Invalid($"preprocessing produces a 4-axis image batch ({pre.Layout.ToString().ToUpperInvariant()}), but the model's input is {target}", where);

        var (c, h, w) = pre.Layout == ImageLayout.Nchw ? (1, 2, 3) : (3, 1, 2);
        var expected = new (int Axis, long Size, string Name)[] { (h, pre.InputShape[0], "h"), (w, pre.InputShape[1], "w"), (c, pre.Channels, "c") };
        foreach (var (axis, size, name) in expected)
        {
            if (target.Dims[axis].Size is { } actual && actual != size)
                throw Invalid($"the model's input '{target.Name}' [{string.Join(",", target.Dims)}] has {name} = {actual} as {pre.Layout.ToString().ToLowerInvariant()}, " +
                              $"but preprocessing.input.shape [{string.Join(", ", pre.InputShape)}] gives {name} = {size}", where);
        }
        if (model.Outputs.Any(o => o.Name == pre.InputName))
            throw Invalid($"preprocessing.input.name '{pre.InputName}' is also a model output; the ensemble needs distinct tensor names", where);
        return target;
    }

    /// <summary>The raw input as clients send it: the model's batch axis (dynamic or fixed) followed by the declared shape.</summary>
    public static TensorInfo RawInput(PreprocessingSpec pre, TensorInfo target) =>
        new(pre.InputName, pre.InputType, [target.Dims[0], .. pre.InputShape.Select(s => Dimension.Fixed(s))]);

    /// <summary>The preprocessing model's output: the target's shape with the raw image's sizes where the model leaves them open.</summary>
    public static TensorInfo Output(PreprocessingSpec pre, TensorInfo target, string name)
    {
        var (h, w, c) = (Dimension.Fixed(pre.InputShape[0]), Dimension.Fixed(pre.InputShape[1]), Dimension.Fixed(pre.Channels));
        return new TensorInfo(name, TensorElementType.Float32,
            pre.Layout == ImageLayout.Nchw ? [target.Dims[0], c, h, w] : [target.Dims[0], h, w, c]);
    }

    public static ModelInterface Interface(PreprocessingSpec pre, TensorInfo target, string outputName) =>
        new([RawInput(pre, target)], [Output(pre, target, outputName)]);

    public static ModelProto Build(string graphName, PreprocessingSpec pre, TensorInfo target, string outputName)
    {
        var raw = RawInput(pre, target);
        var output = Output(pre, target, outputName);
        if (raw.Name == outputName) throw new ArgumentException("the raw input and the output need different names", nameof(outputName));
        // Internal names get a prefix neither graph input nor output starts with, so user names cannot clash.
        var prefix = "pre/";
        while (raw.Name.StartsWith(prefix, StringComparison.Ordinal) || outputName.StartsWith(prefix, StringComparison.Ordinal)) prefix = "_" + prefix;
        string N(string s) => prefix + s;

        var graph = new GraphProto { Name = graphName };
        graph.Input.Add(ValueInfo(raw));
        graph.Output.Add(ValueInfo(output));

        // Mean and std broadcast over the last (channel) axis of the raw HWC image; one value covers every channel.
        graph.Initializer.Add(TensorData.FromFloats(N("scale"), [], [(float)pre.Scale]));
        graph.Initializer.Add(TensorData.FromFloats(N("mean"), [pre.Mean.Count], pre.Mean.Select(v => (float)v).ToArray()));
        graph.Initializer.Add(TensorData.FromFloats(N("std"), [pre.Std.Count], pre.Std.Select(v => (float)v).ToArray()));

        var cast = Node("Cast", [raw.Name], N("as_float"));
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = TensorData.Float });
        graph.Node.Add(cast);
        graph.Node.Add(Node("Div", [N("as_float"), N("scale")], N("scaled")));
        graph.Node.Add(Node("Sub", [N("scaled"), N("mean")], N("centered")));
        var last = N("normalized");
        graph.Node.Add(Node("Div", [N("centered"), N("std")], last));

        if (pre.InputShape.Count == 2)
        {
            // [batch, h, w] has no channel axis: insert it where the layout keeps channels.
            graph.Initializer.Add(TensorData.FromInt64s(N("channel_axis"), [1], [pre.Layout == ImageLayout.Nchw ? 1L : 3L]));
            graph.Node.Add(Node("Unsqueeze", [last, N("channel_axis")], outputName));
        }
        else if (pre.Layout == ImageLayout.Nchw)
        {
            var transpose = Node("Transpose", [last], outputName);
            transpose.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 0, 3, 1, 2 } });
            graph.Node.Add(transpose);
        }
        else
        {
            graph.Node.Add(Node("Identity", [last], outputName));
        }

        var model = new ModelProto
        {
            IrVersion = 7,
            ProducerName = "ModelBuild",
            DocString = string.Create(CultureInfo.InvariantCulture,
                $"(float({raw.Name}) / {pre.Scale} - mean) / std, as {pre.Layout.ToString().ToUpperInvariant()}, for '{target.Name}'"),
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
    }

    private static NodeProto Node(string op, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = op, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }

    private static ValueInfoProto ValueInfo(TensorInfo t)
    {
        var shape = new TensorShapeProto();
        foreach (var d in t.Dims)
            shape.Dim.Add(d.Size is { } size ? new TensorShapeProto.Types.Dimension { DimValue = size }
                : new TensorShapeProto.Types.Dimension { DimParam = string.IsNullOrEmpty(d.Symbol) ? "batch" : d.Symbol });
        return new ValueInfoProto
        {
            Name = t.Name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = OnnxTypes.ToOnnx(t.ElementType), Shape = shape } },
        };
    }

    private static ModelBuildException Invalid(string message, SourceLocation location) =>
        new(DiagnosticCodes.InvalidValue, message, location);
}
