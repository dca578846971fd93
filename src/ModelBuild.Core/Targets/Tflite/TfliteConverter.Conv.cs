using Onnx;

namespace ModelBuild.Targets.Tflite;

// Convolutions, fully connected layers and pooling: the layout-sensitive ops, and the ones with int8 weights.
internal sealed partial class TfliteConverter
{
    private void ConvertConv(TfliteActivation activation, string output)
    {
        var node = _node!;
        var x = Input(0);
        if (x.Rank != 4)
            throw Unsupported($"a {x.Rank - 2}-D convolution; TFLite's CONV_2D and DEPTHWISE_CONV_2D take 2-D images (4-D tensors) only");
        if (!IsConst(node.Input[1])) throw Unsupported("its weights are computed at run time; TFLite needs constant weights");
        var w = ShapeOf(node.Input[1]); // [O, I/group, kh, kw]
        var group = (int)AttrInt("group", 1);
        var inChannels = (int)x.Shape[1];
        var outChannels = (int)w[0];
        var strides = AttrInts("strides", [1, 1]);
        var dilations = AttrInts("dilations", [1, 1]);
        var outShape = ShapeOf(output);
        x = InLayout(x, Nchw2Nhwc);
        var (padding, padded) = Padding(x, [w[2], w[3]], strides, dilations, [outShape[2], outShape[3]], padValue: 0);

        var bias = node.Input.Count > 2 && node.Input[2].Length > 0 ? RequireConstFloats(2, "bias") : new float[outChannels];
        var outParams = OutputParams(output);
        var int8 = padded.Quant is not null && outParams is not null;
        var result = new Value { Perm = Nchw2Nhwc, Shape = outShape };
        var target = int8
            ? result.Quant = Model.AddTensor(output, result.TfliteShape, TfliteType.Int8, quantization: outParams)
            : result.Float = Model.AddTensor(output, result.TfliteShape, TfliteType.Float32);
        var input = int8 ? padded.Quant! : FloatOf(padded);

        var depthwise = group > 1 && group == inChannels && outChannels % group == 0;
        if (group == 1 || depthwise)
        {
            // CONV_2D weights [O, kh, kw, I]; DEPTHWISE_CONV_2D weights [1, kh, kw, O].
            int[] perm = depthwise ? [1, 2, 3, 0] : [0, 2, 3, 1];
            var (weightTensor, scales) = Weight(node.Input[1], perm, channelAxis: 0, int8 ? input.Quantization!.Scale[0] : null,
                tfliteChannelDim: depthwise ? 3 : 0);
            var biasTensor = Bias(node.Input[1] + "_bias", bias, int8 ? input.Quantization!.Scale[0] : null, scales);
            var options = depthwise
                ? TfliteOptions.DepthwiseConv2D(padding, (int)strides[1], (int)strides[0], outChannels / group, activation,
                    (int)dilations[1], (int)dilations[0])
                : TfliteOptions.Conv2D(padding, (int)strides[1], (int)strides[0], activation, (int)dilations[1], (int)dilations[0]);
            Model.AddOperator(depthwise ? TfliteOp.DepthwiseConv2D : TfliteOp.Conv2D, [input.Index, weightTensor.Index, biasTensor.Index],
                [target.Index], options, version: int8 ? 3 : 1);
        }
        else
        {
            // A grouped convolution: TFLite runtimes before 2.9 (and ArmNN) have no groups, so split, convolve, concatenate.
            if (inChannels % group != 0 || outChannels % group != 0)
                throw Unsupported($"group {group} does not divide {inChannels} input and {outChannels} output channels");
            var perGroupIn = inChannels / group;
            var perGroupOut = outChannels / group;
            var pieces = Enumerable.Range(0, group).Select(g =>
                Model.AddTensor($"{output}_in{g}", [input.Shape[0], input.Shape[1], input.Shape[2], perGroupIn], input.Type,
                    quantization: input.Quantization)).ToArray();
            Model.AddOperator(TfliteOp.Split, [IntScalar(output + "_axis", 3).Index, input.Index], pieces.Select(p => p.Index).ToArray(),
                TfliteOptions.Split(group));
            var allWeights = ConstFloats(node.Input[1]);
            var perGroupWeights = allWeights.Length / group;
            var outs = new List<int>();
            for (var g = 0; g < group; g++)
            {
                var slice = allWeights.AsSpan(g * perGroupWeights, perGroupWeights).ToArray();
                var (weightTensor, scales) = WeightFromFloats($"{node.Input[1]}_g{g}", slice, [perGroupOut, w[1], w[2], w[3]], [0, 2, 3, 1],
                    channelAxis: 0, int8 ? input.Quantization!.Scale[0] : null, tfliteChannelDim: 0);
                var biasTensor = Bias($"{node.Input[1]}_bias_g{g}", bias.AsSpan(g * perGroupOut, perGroupOut).ToArray(),
                    int8 ? input.Quantization!.Scale[0] : null, scales);
                var piece = Model.AddTensor($"{output}_out{g}", [target.Shape[0], target.Shape[1], target.Shape[2], perGroupOut], target.Type,
                    quantization: target.Quantization);
                Model.AddOperator(TfliteOp.Conv2D, [pieces[g].Index, weightTensor.Index, biasTensor.Index], [piece.Index],
                    TfliteOptions.Conv2D(padding, (int)strides[1], (int)strides[0], activation, (int)dilations[1], (int)dilations[0]),
                    version: int8 ? 3 : 1);
                outs.Add(piece.Index);
            }
            Model.AddOperator(TfliteOp.Concatenation, outs.ToArray(), [target.Index], TfliteOptions.Concatenation(3));
        }
        if (activation is TfliteActivation.Relu or TfliteActivation.Relu6) _nonNegative.Add(target.Index);
        Produced(output, result, int8);
    }

    private void ConvertConvTranspose()
    {
        var node = _node!;
        var x = Input(0);
        if (x.Rank != 4) throw Unsupported("a transposed convolution on other than 2-D images; TFLite's TRANSPOSE_CONV is 2-D only");
        if (!IsConst(node.Input[1])) throw Unsupported("its weights are computed at run time; TFLite needs constant weights");
        if (AttrInts("dilations", [1, 1]).Any(d => d != 1)) throw Unsupported("a dilated transposed convolution; TFLite's TRANSPOSE_CONV has no dilation");
        var w = ShapeOf(node.Input[1]); // [I, O/group, kh, kw]
        var group = (int)AttrInt("group", 1);
        var strides = AttrInts("strides", [1, 1]);
        var output = node.Output[0];
        var outShape = ShapeOf(output);
        x = InLayout(x, Nchw2Nhwc);
        // VALID computes the full (in − 1)·stride + k output; ONNX's pads (and output_padding) are a crop of it.
        var fullH = (x.Shape[2] - 1) * strides[0] + w[2];
        var fullW = (x.Shape[3] - 1) * strides[1] + w[3];
        var pads = AttrInts("pads", [0, 0, 0, 0]);
        if (AttrString("auto_pad", "NOTSET") is not "NOTSET" and not "VALID")
            throw Unsupported("auto_pad SAME on a transposed convolution; export it with explicit pads");
        var input = FloatOf(x);
        var outChannels = (int)w[1] * group;
        int[] fullShape = [(int)x.Shape[0], (int)fullH, (int)fullW, outChannels];
        var full = Model.AddTensor(output + "_full", fullShape, TfliteType.Float32);
        // TRANSPOSE_CONV has no groups: a grouped one is split by input channels, run per group, concatenated.
        var inPerGroup = (int)w[0] / group;
        var groupInputs = new[] { input };
        if (group > 1)
        {
            groupInputs = Enumerable.Range(0, group).Select(g =>
                Model.AddTensor($"{output}_in{g}", [input.Shape[0], input.Shape[1], input.Shape[2], inPerGroup], TfliteType.Float32)).ToArray();
            Model.AddOperator(TfliteOp.Split, [IntScalar(output + "_axis", 3).Index, input.Index], groupInputs.Select(t => t.Index).ToArray(),
                TfliteOptions.Split(group));
        }
        var weights = ConstFloats(node.Input[1]);
        var perGroupWeights = weights.Length / group;
        var groupOutputs = new List<int>();
        for (var g = 0; g < group; g++)
        {
            var slice = weights.AsSpan(g * perGroupWeights, perGroupWeights).ToArray();
            var (weightTensor, _) = WeightFromFloats(group > 1 ? $"{node.Input[1]}_g{g}" : node.Input[1], slice, [inPerGroup, w[1], w[2], w[3]],
                [1, 2, 3, 0], channelAxis: 1, inputScale: null, tfliteChannelDim: 0);
            int[] groupShape = [fullShape[0], fullShape[1], fullShape[2], (int)w[1]];
            var target = group > 1 ? Model.AddTensor($"{output}_full{g}", groupShape, TfliteType.Float32) : full;
            Model.AddOperator(TfliteOp.TransposeConv,
                [IntConstant($"{output}_shape{g}", groupShape).Index, weightTensor.Index, groupInputs[g].Index],
                [target.Index], TfliteOptions.TransposeConv(TflitePadding.Valid, (int)strides[1], (int)strides[0]));
            groupOutputs.Add(target.Index);
        }
        if (group > 1)
            Model.AddOperator(TfliteOp.Concatenation, groupOutputs.ToArray(), [full.Index], TfliteOptions.Concatenation(3));
        var current = full;
        if (pads[0] != 0 || pads[1] != 0 || fullH != outShape[2] || fullW != outShape[3])
        {
            var cropped = Model.AddTensor(output + "_crop", [(int)outShape[0], (int)outShape[2], (int)outShape[3], (int)outShape[1]], TfliteType.Float32);
            Model.AddOperator(TfliteOp.Slice,
                [current.Index, IntConstant(output + "_begin", [0, (int)pads[0], (int)pads[1], 0]).Index,
                 IntConstant(output + "_size", [(int)outShape[0], (int)outShape[2], (int)outShape[3], (int)outShape[1]]).Index],
                [cropped.Index], TfliteOptions.Empty(TfliteOptionsType.Slice));
            current = cropped;
        }
        var result = new Value { Perm = Nchw2Nhwc, Shape = outShape };
        if (node.Input.Count > 2 && node.Input[2].Length > 0)
        {
            var bias = FloatConstant(node.Input[2], [outChannels], RequireConstFloats(2, "bias"));
            result.Float = Model.AddTensor(output, result.TfliteShape, TfliteType.Float32);
            Model.AddOperator(TfliteOp.Add, [current.Index, bias.Index], [result.Float.Index],
                TfliteOptions.Binary(TfliteOptionsType.Add, TfliteActivation.None));
        }
        else
        {
            current.Name = output;
            result.Float = current;
        }
        Produced(output, result, int8: false);
    }

    /// <summary>Gemm, and MatMul with a constant 2-D right operand: FULLY_CONNECTED (weights [out, in]).</summary>
    private void ConvertFullyConnected(TfliteActivation activation, string output)
    {
        var node = _node!;
        var gemm = node.OpType is "Gemm" or "FusedGemm";
        if (gemm && AttrInt("transA", 0) != 0) throw Unsupported("transA = 1; TFLite's FULLY_CONNECTED multiplies the input as it is");
        var transB = gemm && AttrInt("transB", 0) != 0;
        var alpha = gemm ? AttrFloat("alpha", 1) : 1;
        var beta = gemm ? AttrFloat("beta", 1) : 1;
        var a = Input(0);
        // A 4-D value whose spatial axes are 1×1 has the same element order in both layouts: no TRANSPOSE needed.
        a = a.Rank == 4 && !a.IsPlain && a.Shape[2] == 1 && a.Shape[3] == 1 ? a : Plain(a);
        var b = ShapeOf(node.Input[1]);
        var units = (int)(transB ? b[0] : b[1]);
        var outShape = ShapeOf(output);

        float[] bias = new float[units];
        string? addAfter = null;
        if (gemm && node.Input.Count > 2 && node.Input[2].Length > 0)
        {
            if (IsConst(node.Input[2]) && ShapeOf(node.Input[2]).Aggregate(1L, (p, d) => p * d) == units && ShapeOf(node.Input[2])[^1] == units)
                bias = ConstFloats(node.Input[2]).Select(v => v * beta).ToArray();
            else addAfter = node.Input[2];
        }
        if (addAfter is not null && beta != 1) throw Unsupported("a computed C operand with beta ≠ 1");

        var outParams = addAfter is null ? OutputParams(output) : null;
        var int8 = a.Quant is not null && outParams is not null && QuantConst(node.Input[1]) is not null;
        var input = int8 ? a.Quant! : FloatOf(a);
        var (weightTensor, scales) = Weight(node.Input[1], transB ? [0, 1] : [1, 0], channelAxis: transB ? 0 : 1,
            int8 ? input.Quantization!.Scale[0] : null, tfliteChannelDim: 0, alpha, perChannel: false);
        var biasTensor = Bias(node.Input[1] + "_bias", bias, int8 ? input.Quantization!.Scale[0] : null, scales);

        // FULLY_CONNECTED flattens its input to [rows, in] and returns [rows, out]; other ranks are reshaped back.
        var rows = (int)(a.Shape.Aggregate(1L, (p, d) => p * d) / a.Shape[^1]);
        var direct = outShape.Length == 2 && addAfter is null;
        var result = new Value { Perm = Identity(outShape.Length), Shape = outShape };
        var fcOut = Model.AddTensor(direct ? output : output + "_fc", [rows, units], int8 ? TfliteType.Int8 : TfliteType.Float32,
            quantization: int8 ? outParams : null);
        Model.AddOperator(TfliteOp.FullyConnected, [input.Index, weightTensor.Index, biasTensor.Index], [fcOut.Index],
            TfliteOptions.FullyConnected(addAfter is null ? activation : TfliteActivation.None, keepNumDims: false), version: int8 ? 4 : 1);
        var current = fcOut;
        if (!direct && outShape.Length != 2)
        {
            var reshaped = Model.AddTensor(addAfter is null ? output : output + "_r", outShape.Select(d => (int)d).ToArray(), current.Type,
                quantization: current.Quantization);
            Reshape(current, reshaped);
            current = reshaped;
        }
        if (addAfter is not null)
        {
            var c = IsConst(addAfter) ? ConstValue(addAfter, outShape.Length, result.Perm) : Plain(_map[addAfter]);
            var sum = Model.AddTensor(output, outShape.Select(d => (int)d).ToArray(), TfliteType.Float32);
            Model.AddOperator(TfliteOp.Add, [current.Index, FloatOf(c).Index], [sum.Index], TfliteOptions.Binary(TfliteOptionsType.Add, activation));
            current = sum;
        }
        if (int8) result.Quant = current; else result.Float = current;
        Produced(output, result, int8);
    }

    private void ConvertPool(bool max, bool global)
    {
        var node = _node!;
        var x = Input(0);
        if (x.Rank != 4) throw Unsupported($"{x.Rank - 2}-D pooling; TFLite pools 2-D images (4-D tensors) only");
        var output = node.Output[0];
        var outShape = ShapeOf(output);
        x = InLayout(x, Nchw2Nhwc);
        long[] kernel = global ? [x.Shape[2], x.Shape[3]] : AttrInts("kernel_shape", []);
        var strides = global ? [1L, 1L] : AttrInts("strides", [1, 1]);
        if (!global && AttrInts("dilations", [1, 1]).Any(d => d != 1)) throw Unsupported("dilated pooling; TFLite's pools have no dilation");
        var (activation, final) = FuseActivation(output);
        var outParams = OutputParams(final);
        var int8 = x.Quant is not null && outParams is not null;
        var padValue = max ? float.NegativeInfinity : 0f;
        // TFLite's SAME average leaves the padding out of the count; ONNX's count_include_pad = 1 counts it, so pad explicitly.
        var countPadding = !max && AttrInt("count_include_pad", 0) != 0;
        var (padding, padded) = global ? (TflitePadding.Valid, x)
            : Padding(x, kernel, strides, [1, 1], [outShape[2], outShape[3]], padValue, allowSame: !countPadding);
        if (!max && padded != x && AttrInt("count_include_pad", 0) == 0)
            throw Unsupported("average pooling with padding that TFLite's SAME does not reproduce and count_include_pad = 0");
        var result = new Value { Perm = Nchw2Nhwc, Shape = ShapeOf(final) };
        // A max or average pool does not change int8 parameters in TFLite: the output keeps the input's.
        var input = int8 ? padded.Quant! : FloatOf(padded);
        var target = Model.AddTensor(final, result.TfliteShape, int8 ? TfliteType.Int8 : TfliteType.Float32,
            quantization: int8 ? input.Quantization : null);
        Model.AddOperator(max ? TfliteOp.MaxPool2D : TfliteOp.AveragePool2D, [input.Index], [target.Index],
            TfliteOptions.Pool2D(padding, (int)strides[1], (int)strides[0], (int)kernel[1], (int)kernel[0], activation), version: int8 ? 2 : 1);
        if (int8) result.Quant = target; else result.Float = target;
        Produced(final, result, int8);
    }

    /// <summary>
    /// TFLite pads SAME (extra at the end) or VALID. ONNX pads that SAME reproduces become SAME; others an explicit PAD
    /// (PADV2 with −∞ for max pooling), then VALID.
    /// </summary>
    private (TflitePadding Padding, Value Input) Padding(Value x, long[] kernel, long[] strides, long[] dilations, long[] outSpatial, float padValue,
        bool allowSame = true)
    {
        var autoPad = AttrString("auto_pad", "NOTSET");
        long[] inSpatial = [x.Shape[2], x.Shape[3]];
        var pads = new long[4]; // top, left, bottom, right
        for (var i = 0; i < 2; i++)
        {
            var effective = (kernel[i] - 1) * dilations[i] + 1;
            var total = Math.Max(0, (outSpatial[i] - 1) * strides[i] + effective - inSpatial[i]);
            switch (autoPad)
            {
                case "SAME_UPPER": pads[i] = total / 2; pads[i + 2] = total - total / 2; break;
                case "SAME_LOWER": pads[i] = total - total / 2; pads[i + 2] = total / 2; break;
                case "VALID": break;
                default:
                    var explicitPads = AttrInts("pads", [0, 0, 0, 0]);
                    pads[i] = explicitPads[i];
                    // Padding past what the last window reads (ceil_mode, or pads larger than needed) changes nothing but the count.
                    pads[i + 2] = Math.Max(0, (outSpatial[i] - 1) * strides[i] + effective - inSpatial[i] - pads[i]);
                    break;
            }
        }
        var valid = pads.All(p => p == 0);
        if (valid) return (TflitePadding.Valid, x);
        var sameTop = SamePad(inSpatial[0], kernel[0], strides[0], dilations[0]);
        var sameLeft = SamePad(inSpatial[1], kernel[1], strides[1], dilations[1]);
        if (allowSame && pads[0] == sameTop.Begin && pads[2] == sameTop.End && pads[1] == sameLeft.Begin && pads[3] == sameLeft.End
            && outSpatial[0] == (inSpatial[0] + strides[0] - 1) / strides[0] && outSpatial[1] == (inSpatial[1] + strides[1] - 1) / strides[1])
            return (TflitePadding.Same, x);
        long[] before = [0, pads[0], pads[1], 0], after = [0, pads[2], pads[3], 0];
        // Max pooling pads with −∞: zeros do the same after a ReLU; otherwise constant borders are concatenated on,
        // since PADV2 and MIRROR_PAD are missing from some runtimes (Arm NN).
        if (float.IsNegativeInfinity(padValue))
            return (TflitePadding.Valid, IsNonNegative(x) ? Pad(x, before, after, 0) : PadByConcatenation(x, before, after));
        return (TflitePadding.Valid, Pad(x, before, after, padValue));
    }

    private static (long Begin, long End) SamePad(long input, long kernel, long stride, long dilation)
    {
        var effective = (kernel - 1) * dilation + 1;
        var output = (input + stride - 1) / stride;
        var total = Math.Max(0, (output - 1) * stride + effective - input);
        return (total / 2, total - total / 2);
    }

    /// <summary>
    /// Borders of the lowest value (float's minimum, or int8 −128) concatenated onto each padded axis: max pooling's −∞
    /// padding with nothing but CONCATENATION, which every runtime reads.
    /// </summary>
    private Value PadByConcatenation(Value x, long[] before, long[] after)
    {
        var quantized = x.Quant is not null;
        var current = quantized ? x.Quant! : x.Float!;
        for (var axis = 0; axis < before.Length; axis++)
        {
            if (before[axis] == 0 && after[axis] == 0) continue;
            var parts = new List<int>();
            TfliteTensor Border(long size)
            {
                var shape = current.Shape.Select((d, i) => i == axis ? (int)size : d).ToArray();
                var count = shape.Aggregate(1, (a, b) => a * b);
                return quantized
                    ? Model.AddTensor(current.Name + "_border", shape, TfliteType.Int8, Enumerable.Repeat((byte)0x80, count).ToArray(), current.Quantization)
                    : Model.AddTensor(current.Name + "_border", shape, TfliteType.Float32, Bytes(Enumerable.Repeat(float.MinValue, count).ToArray()));
            }
            if (before[axis] > 0) parts.Add(Border(before[axis]).Index);
            parts.Add(current.Index);
            if (after[axis] > 0) parts.Add(Border(after[axis]).Index);
            var outShape = current.Shape.Select((d, i) => i == axis ? (int)(d + before[axis] + after[axis]) : d).ToArray();
            var next = Model.AddTensor(current.Name + "_padded", outShape, current.Type, quantization: current.Quantization);
            Model.AddOperator(TfliteOp.Concatenation, parts.ToArray(), [next.Index], TfliteOptions.Concatenation(axis));
            current = next;
        }
        var shapeOnnx = (long[])x.Shape.Clone();
        for (var i = 0; i < before.Length; i++) shapeOnnx[x.Perm[i]] += before[i] + after[i];
        var result = new Value { Perm = x.Perm, Shape = shapeOnnx };
        if (quantized) result.Quant = current; else result.Float = current;
        return result;
    }

    /// <summary>A value known to be ≥ 0: the output of a ReLU or ReLU6 (fused or not), or an int8 tensor whose lowest level is 0.</summary>
    private bool IsNonNegative(Value x)
    {
        var tensor = x.Quant ?? x.Float!;
        if (tensor.Quantization is { } q && x.Quant is not null && q.ZeroPoint[0] == -128) return true;
        return _nonNegative.Contains(tensor.Index);
    }

    /// <summary>PAD (zeros), PADV2 (another constant) on TFLite axes; int8 values pad with the zero point (real 0).</summary>
    private Value Pad(Value x, long[] before, long[] after, float value)
    {
        var shape = x.TfliteShape;
        var outShape = shape.Select((d, i) => (int)(d + before[i] + after[i])).ToArray();
        var quantized = x.Quant is not null;
        var source = quantized ? x.Quant! : x.Float!;
        var output = Model.AddTensor(source.Name + "_pad", outShape, source.Type, quantization: source.Quantization);
        var paddings = Model.AddTensor(source.Name + "_paddings", [shape.Length, 2], TfliteType.Int32,
            Bytes(before.Zip(after).SelectMany(p => new[] { (int)p.First, (int)p.Second }).ToArray()));
        if (value == 0)
        {
            Model.AddOperator(TfliteOp.Pad, [source.Index, paddings.Index], [output.Index], TfliteOptions.Empty(TfliteOptionsType.Pad));
        }
        else
        {
            TfliteTensor constant;
            if (quantized)
            {
                var q = source.Quantization!;
                var level = float.IsNegativeInfinity(value) ? -128 : Math.Clamp((int)Math.Round(value / q.Scale[0] + q.ZeroPoint[0]), -128, 127);
                constant = Model.AddTensor(source.Name + "_padvalue", [], TfliteType.Int8, [(byte)(sbyte)level], q);
            }
            else
            {
                constant = Model.AddTensor(source.Name + "_padvalue", [], TfliteType.Float32,
                    Bytes([float.IsNegativeInfinity(value) ? float.MinValue : value]));
            }
            Model.AddOperator(TfliteOp.PadV2, [source.Index, paddings.Index, constant.Index], [output.Index],
                TfliteOptions.Empty(TfliteOptionsType.PadV2));
        }
        var shapeOnnx = (long[])x.Shape.Clone();
        for (var i = 0; i < shape.Length; i++) shapeOnnx[x.Perm[i]] += before[i] + after[i];
        var result = new Value { Perm = x.Perm, Shape = shapeOnnx };
        if (quantized) result.Quant = output; else result.Float = output;
        return result;
    }

    // ---- weights and biases ------------------------------------------------------------------------------------

    /// <summary>
    /// A constant weight reordered by <paramref name="perm"/>: float, or (when <paramref name="inputScale"/> is given)
    /// int8 per channel, symmetric, along <paramref name="tfliteChannelDim"/>. The QDQ model's own int8 values and
    /// scales are kept when they already are symmetric int8; otherwise the float weights are quantized here.
    /// </summary>
    private (TfliteTensor Tensor, float[]? Scales) Weight(string name, int[] perm, int channelAxis, float? inputScale, int tfliteChannelDim,
        float alpha = 1, bool perChannel = true)
    {
        var shape = ShapeOf(name);
        if (!perChannel && inputScale is not null)
        {
            // TFLite's int8 spec quantizes FULLY_CONNECTED weights per tensor (and Arm NN's reference backend insists).
            var floats = ConstFloats(name).Select(v => v * alpha).ToArray();
            var (quantizedValues, scale) = TfliteQuantMath.SymmetricPerChannel(floats, [1, floats.Length], 0);
            var (permutedValues, permutedShape) = Permute(quantizedValues, shape, perm);
            var perTensor = Model.AddTensor(name, permutedShape.Select(d => (int)d).ToArray(), TfliteType.Int8, Bytes(permutedValues),
                TfliteQuantization.PerTensor(scale[0], 0));
            return (perTensor, [scale[0]]);
        }
        if (inputScale is not null && alpha == 1 && QuantConst(name) is { } q && q.Shape.Length == shape.Length
            && q.ZeroPoints.All(z => z == 0) && q.Values.All(v => v is >= -127 and <= 127)
            && (q.Scales.Length == 1 || q.Axis == channelAxis))
        {
            var channels = (int)shape[channelAxis];
            var scales = q.Scales.Length == 1 ? Enumerable.Repeat(q.Scales[0], channels).ToArray() : q.Scales;
            var (data, tshape) = Permute(q.Values.Select(v => (sbyte)v).ToArray(), shape, perm);
            var tensor = Model.AddTensor(name, tshape.Select(d => (int)d).ToArray(), TfliteType.Int8, Bytes(data),
                new TfliteQuantization(scales, new long[channels], tfliteChannelDim));
            return (tensor, scales);
        }
        var values = ConstFloats(name);
        if (alpha != 1) values = values.Select(v => v * alpha).ToArray();
        return WeightFromFloats(name, values, shape, perm, channelAxis, inputScale, tfliteChannelDim);
    }

    private (TfliteTensor Tensor, float[]? Scales) WeightFromFloats(string name, float[] values, long[] shape, int[] perm, int channelAxis,
        float? inputScale, int tfliteChannelDim)
    {
        if (inputScale is null)
        {
            var (data, tshape) = Permute(values, shape, perm);
            return (FloatConstant(name, tshape.Select(d => (int)d).ToArray(), data, weight: true), null);
        }
        var (quantized, scales) = TfliteQuantMath.SymmetricPerChannel(values, shape, channelAxis);
        var (permuted, outShape) = Permute(quantized, shape, perm);
        var tensor = Model.AddTensor(name, outShape.Select(d => (int)d).ToArray(), TfliteType.Int8, Bytes(permuted),
            new TfliteQuantization(scales, new long[scales.Length], tfliteChannelDim));
        return (tensor, scales);
    }

    /// <summary>A float bias, or an int32 one with scale = input scale × weight scale per channel (TFLite's rule).</summary>
    private TfliteTensor Bias(string name, float[] bias, float? inputScale, float[]? weightScales)
    {
        if (inputScale is not { } s || weightScales is null) return FloatConstant(name, [bias.Length], bias);
        // One weight scale (per-tensor weights) gives one bias scale; per-channel weights one per channel.
        var scales = weightScales.Select(w => w * s).ToArray();
        var values = bias.Select((b, i) => (int)Math.Clamp(Math.Round(b / scales[Math.Min(i, scales.Length - 1)]), int.MinValue, int.MaxValue))
            .ToArray();
        return Model.AddTensor(name, [bias.Length], TfliteType.Int32, Bytes(values), new TfliteQuantization(scales, new long[scales.Length]));
    }

    private TfliteTensor IntScalar(string name, int value) => Model.AddTensor(name, [], TfliteType.Int32, Bytes([value]));

    private void Reshape(TfliteTensor input, TfliteTensor output) =>
        Model.AddOperator(TfliteOp.Reshape, [input.Index, IntConstant(output.Name + "_shape", output.Shape).Index], [output.Index],
            TfliteOptions.Reshape(output.Shape));

    /// <summary>Records a node's result, and lets the QuantizeLinear nodes after an int8 result reuse it as is.</summary>
    private void Produced(string output, Value result, bool int8)
    {
        _map[output] = result;
        if (int8)
        {
            AliasQuantizers(output, result);
            QuantizedOps++;
        }
        else
        {
            FloatOps++;
        }
    }

    /// <summary>
    /// The activation TFLite can fuse into the op producing <paramref name="output"/> (its one consumer being Relu, or
    /// Clip to [0, 6] or [−1, 1]), and the tensor that then comes out. The consumer is marked as done.
    /// </summary>
    private (TfliteActivation Activation, string Output) FuseActivation(string output)
    {
        if (_graphOutputs.Contains(output) || Consumers(output) is not [var next]) return (TfliteActivation.None, output);
        var activation = ActivationOf(next);
        if (activation == TfliteActivation.None) return (TfliteActivation.None, output);
        _fused.Add(next);
        return (activation, next.Output[0]);
    }

    private TfliteActivation ActivationOf(NodeProto node)
    {
        switch (node.OpType)
        {
            case "Relu":
                return TfliteActivation.Relu;
            case "Clip":
                var (low, high) = ClipBounds(node);
                return (low, high) switch
                {
                    (0, 6) => TfliteActivation.Relu6,
                    (-1, 1) => TfliteActivation.ReluN1To1,
                    (0, float.PositiveInfinity) => TfliteActivation.Relu,
                    _ => TfliteActivation.None,
                };
            default:
                return TfliteActivation.None;
        }
    }

    private (float Low, float High) ClipBounds(NodeProto node)
    {
        float Bound(int input, string attribute, float fallback) =>
            node.Input.Count > input && node.Input[input].Length > 0
                ? IsConst(node.Input[input]) ? ConstFloats(node.Input[input])[0] : float.NaN
                : Attr(node, attribute) is { } a ? a.F : fallback;
        return (Bound(1, "min", float.NegativeInfinity), Bound(2, "max", float.PositiveInfinity));
    }
}
