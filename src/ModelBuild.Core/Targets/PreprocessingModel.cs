using ModelBuild.Runtime;
using System.Globalization;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Targets;

/// <summary>
/// The ONNX model of the ensemble's first step: the model's one <see cref="ImagePreprocessing"/> as ONNX operators.
/// Raw image [batch, h, w(, c)] → Cast float → channels first → Resize (linear, half_pixel: what
/// <see cref="ImagePreprocessing.Apply"/> computes) → centre Slice → Div scale → Sub mean → Div std → the model's layout.
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
            throw Invalid($"preprocessing produces float32, but the model's input '{target.Name}' is {OnnxTypes.ManifestName(target.ElementType)}",
                where);
        if (target.Dims.Count != 4)
            throw Invalid($"preprocessing produces a 4-axis image batch ({pre.Layout.ToString().ToUpperInvariant()}), " +
                $"but the model's input is {target}", where);

        var (c, h, w) = pre.Layout == ImageLayout.Nchw ? (1, 2, 3) : (3, 1, 2);
        var (outH, outW) = pre.Image.OutputSize(pre.InputShape[0], pre.InputShape[1]);
        var expected = new (int Axis, long Size, string Name)[] { (h, outH, "h"), (w, outW, "w"), (c, pre.Channels, "c") };
        foreach (var (axis, size, name) in expected)
        {
            if (target.Dims[axis].Size is { } actual && actual != size)
                throw Invalid($"the model's input '{target.Name}' [{string.Join(",", target.Dims)}] has {name} = {actual} as " +
                              $"{pre.Layout.ToString().ToLowerInvariant()}, " +
                              $"but preprocessing.input.shape [{string.Join(", ", pre.InputShape)}]{Resized(pre)} gives {name} = {size}", where);
        }
        if (model.Outputs.Any(o => o.Name == pre.InputName))
            throw Invalid($"preprocessing.input.name '{pre.InputName}' is also a model output; the ensemble needs distinct tensor names", where);
        return target;
    }

    private static string Resized(PreprocessingSpec pre) =>
        (pre.Image.Size is { } s ? $" resized to [{s[0]}, {s[1]}]" : "") + (pre.Image.Crop is { } c ? $" cropped to [{c[0]}, {c[1]}]" : "");

    /// <summary>The raw input as clients send it: the model's batch axis (dynamic or fixed) followed by the declared shape.</summary>
    public static TensorInfo RawInput(PreprocessingSpec pre, TensorInfo target) =>
        new(pre.InputName, pre.InputType, [target.Dims[0], .. pre.InputShape.Select(s => Dimension.Fixed(s))]);

    /// <summary>The preprocessing model's output: the target's shape with the raw image's sizes where the model leaves them open.</summary>
    public static TensorInfo Output(PreprocessingSpec pre, TensorInfo target, string name)
    {
        var (outH, outW) = pre.Image.OutputSize(pre.InputShape[0], pre.InputShape[1]);
        var (h, w, c) = (Dimension.Fixed(outH), Dimension.Fixed(outW), Dimension.Fixed(pre.Channels));
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
        while (raw.Name.StartsWith(prefix, StringComparison.Ordinal) || outputName.StartsWith(prefix, StringComparison.Ordinal))
            prefix = "_" + prefix;
        string N(string s) => prefix + s;

        var graph = new GraphProto { Name = graphName };
        graph.Input.Add(OnnxTypes.ValueInfo(raw));
        graph.Output.Add(OnnxTypes.ValueInfo(output));

        var image = pre.Image;
        // Mean and std as [c, 1, 1]: they broadcast over the channels-first image; one value covers every channel.
        graph.Initializer.Add(TensorData.FromFloats(N("scale"), [], [(float)image.Scale]));
        graph.Initializer.Add(TensorData.FromFloats(N("mean"), [image.Mean.Length, 1, 1], image.Mean.Select(v => (float)v).ToArray()));
        graph.Initializer.Add(TensorData.FromFloats(N("std"), [image.Std.Length, 1, 1], image.Std.Select(v => (float)v).ToArray()));

        var cast = Node("Cast", [raw.Name], N("as_float"));
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = TensorData.Float });
        graph.Node.Add(cast);
        var last = N("as_float");
        if (pre.InputShape.Count == 2)
        {
            // [batch, h, w] has no channel axis: add it last, as in an HWC image.
            graph.Initializer.Add(TensorData.FromInt64s(N("channel_axis"), [1], [3L]));
            graph.Node.Add(Node("Unsqueeze", [last, N("channel_axis")], N("hwc")));
            last = N("hwc");
        }
        graph.Node.Add(Transpose(last, N("chw"), [0, 3, 1, 2]));
        last = N("chw");

        var (height, width) = (pre.InputShape[0], pre.InputShape[1]);
        if (image.Size is { } size)
        {
            // sizes = [batch, c] of the image, then the target [h, w]: the batch axis stays dynamic.
            graph.Initializer.Add(TensorData.FromInt64s(N("zero"), [1], [0L]));
            graph.Initializer.Add(TensorData.FromInt64s(N("two"), [1], [2L]));
            graph.Initializer.Add(TensorData.FromInt64s(N("target_hw"), [2], [size[0], size[1]]));
            graph.Node.Add(Node("Shape", [last], N("shape")));
            graph.Node.Add(Node("Slice", [N("shape"), N("zero"), N("two")], N("batch_channels")));
            var concat = Node("Concat", [N("batch_channels"), N("target_hw")], N("sizes"));
            concat.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
            graph.Node.Add(concat);
            var resize = Node("Resize", [last, "", "", N("sizes")], N("resized"));
            resize.Attribute.Add(new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String,
                S = Google.Protobuf.ByteString.CopyFromUtf8("linear") });
            resize.Attribute.Add(new AttributeProto
            {
                Name = "coordinate_transformation_mode", Type = AttributeProto.Types.AttributeType.String,
                S = Google.Protobuf.ByteString.CopyFromUtf8("half_pixel"),
            });
            graph.Node.Add(resize);
            last = N("resized");
            (height, width) = (size[0], size[1]);
        }
        if (image.Crop is { } crop)
        {
            var (top, left) = ((height - crop[0]) / 2, (width - crop[1]) / 2);
            graph.Initializer.Add(TensorData.FromInt64s(N("crop_starts"), [2], [top, left]));
            graph.Initializer.Add(TensorData.FromInt64s(N("crop_ends"), [2], [top + crop[0], left + crop[1]]));
            graph.Initializer.Add(TensorData.FromInt64s(N("crop_axes"), [2], [2L, 3L]));
            graph.Node.Add(Node("Slice", [last, N("crop_starts"), N("crop_ends"), N("crop_axes")], N("cropped")));
            last = N("cropped");
        }

        graph.Node.Add(Node("Div", [last, N("scale")], N("scaled")));
        graph.Node.Add(Node("Sub", [N("scaled"), N("mean")], N("centered")));
        graph.Node.Add(Node("Div", [N("centered"), N("std")], N("normalized")));
        graph.Node.Add(image.Layout == ImageLayout.Nchw
            ? Node("Identity", [N("normalized")], outputName)
            : Transpose(N("normalized"), outputName, [0, 2, 3, 1]));

        var model = new ModelProto
        {
            IrVersion = 7,
            ProducerName = "ModelBuild",
            DocString = string.Create(CultureInfo.InvariantCulture,
                $"(float({raw.Name}){Resized(pre)} / {image.Scale} - mean) / std, as " +
                $"{image.Layout.ToString().ToUpperInvariant()}, for '{target.Name}'"),
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        return model;
    }

    private static NodeProto Transpose(string input, string output, long[] perm)
    {
        var transpose = Node("Transpose", [input], output);
        transpose.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { perm } });
        return transpose;
    }

    private static NodeProto Node(string op, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = op, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }


    private static ModelBuildException Invalid(string message, SourceLocation location) =>
        new(DiagnosticCodes.InvalidValue, message, location);
}
