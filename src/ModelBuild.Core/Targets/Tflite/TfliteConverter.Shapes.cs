namespace ModelBuild.Targets.Tflite;

// Ops that move data without arithmetic (reshape, transpose, concat, slice, pad, resize) and reductions. int8 values
// pass through them with their parameters unchanged, as TFLite's kernels require.
internal sealed partial class TfliteConverter
{
    private void ConvertReshape()
    {
        var x = Input(0);
        var output = _node!.Output[0];
        var outShape = ShapeOf(output);
        // Only the element order matters: a 4-D value with 1×1 spatial axes is the same in NHWC and NCHW.
        var spatialOnes = x.Rank == 4 && x.Shape[2] == 1 && x.Shape[3] == 1 && x.Perm.SequenceEqual(Nchw2Nhwc);
        if (!spatialOnes) x = Plain(x);
        var quantized = x.Quant is not null;
        var source = quantized ? x.Quant! : x.Float!;
        var target = Model.AddTensor(output, outShape.Select(d => (int)d).ToArray(), source.Type, quantization: source.Quantization);
        Reshape(source, target);
        var result = new Value { Perm = Identity(outShape.Length), Shape = outShape };
        if (quantized) result.Quant = target; else result.Float = target;
        _map[output] = result;
    }

    /// <summary>
    /// A Transpose costs nothing here: the result is the same TFLite tensor with its axes relabelled. The next op that
    /// needs a particular order (or a graph output) adds the one TRANSPOSE, or none when the orders cancel out.
    /// </summary>
    private void ConvertTranspose()
    {
        var x = Input(0);
        var perm = AttrInts("perm", Enumerable.Range(0, x.Rank).Reverse().Select(i => (long)i).ToArray()).Select(p => (int)p).ToArray();
        var inverse = Inverse(perm);
        _map[_node!.Output[0]] = new Value
        {
            Perm = x.Perm.Select(p => inverse[p]).ToArray(), Shape = ShapeOf(_node.Output[0]), Float = x.Float, Quant = x.Quant,
        };
    }

    private void ConvertConcat()
    {
        var node = _node!;
        var output = node.Output[0];
        var outShape = ShapeOf(output);
        var rank = outShape.Length;
        var computed = node.Input.Where(i => !IsConst(i)).Select(i => _map[i]).ToList();
        var perm = computed.Count > 0 && computed.All(v => v.Perm.SequenceEqual(computed[0].Perm)) ? computed[0].Perm : Identity(rank);
        var inputs = node.Input.Select(i => IsConst(i) ? ConstValue(i, rank, perm) : InLayout(_map[i], perm)).ToList();
        var outParams = OutputParams(output);
        var int8 = inputs.All(v => v.Quant is not null) && (outParams ?? inputs[0].Quant!.Quantization) is not null;
        var result = new Value { Perm = perm, Shape = outShape };
        var axis = TfliteAxis(result, AttrInt("axis", 0));
        if (int8)
        {
            // TFLite's int8 CONCATENATION wants one set of parameters: inputs that differ are requantized to it.
            var p = outParams ?? inputs[0].Quant!.Quantization!;
            result.Quant = Model.AddTensor(output, result.TfliteShape, TfliteType.Int8, quantization: p);
            Model.AddOperator(TfliteOp.Concatenation, inputs.Select(v => QuantOf(v, p).Index).ToArray(), [result.Quant.Index],
                TfliteOptions.Concatenation(axis), version: 2);
        }
        else
        {
            result.Float = Model.AddTensor(output, result.TfliteShape, TfliteType.Float32);
            Model.AddOperator(TfliteOp.Concatenation, inputs.Select(v => FloatOf(v).Index).ToArray(), [result.Float.Index],
                TfliteOptions.Concatenation(axis));
        }
        Produced(output, result, int8);
    }

    private void ConvertPad()
    {
        var node = _node!;
        var x = Input(0);
        var mode = AttrString("mode", "constant");
        var pads = node.Input.Count > 1 && node.Input[1].Length > 0
            ? IsConst(node.Input[1]) ? ConstInts(node.Input[1]) : throw Unsupported("pads computed at run time")
            : AttrInts("pads", []);
        if (node.Input.Count > 3 && node.Input[3].Length > 0) throw Unsupported("padding only some axes ('axes' input)");
        if (pads.Any(p => p < 0)) throw Unsupported("negative pads (cropping)");
        var value = node.Input.Count > 2 && node.Input[2].Length > 0 ? RequireConstFloats(2, "constant value")[0] : AttrFloat("value", 0);
        var before = x.Perm.Select(p => pads[p]).ToArray();
        var after = x.Perm.Select(p => pads[x.Rank + p]).ToArray();
        Value result;
        switch (mode)
        {
            case "constant":
                result = Pad(x, before, after, value);
                break;
            case "reflect":
            // Repeating the edge once is mirroring it (SYMMETRIC includes the border); wider edge padding has no TFLite form.
            case "edge" when before.Concat(after).All(p => p <= 1):
                var input = FloatOf(x);
                var shape = input.Shape.Select((d, i) => (int)(d + before[i] + after[i])).ToArray();
                var output = Model.AddTensor(node.Output[0], shape, TfliteType.Float32);
                var paddings = Model.AddTensor(node.Output[0] + "_paddings", [x.Rank, 2], TfliteType.Int32,
                    Bytes(before.Zip(after).SelectMany(p => new[] { (int)p.First, (int)p.Second }).ToArray()));
                Model.AddOperator(TfliteOp.MirrorPad, [input.Index, paddings.Index], [output.Index], TfliteOptions.MirrorPad(symmetric: mode == "edge"));
                result = new Value { Perm = x.Perm, Shape = ShapeOf(node.Output[0]), Float = output };
                break;
            default:
                throw Unsupported($"pad mode '{mode}' with these pads; TFLite pads with a constant (PAD), by reflection, or by repeating the edge once (MIRROR_PAD)");
        }
        _map[node.Output[0]] = result;
    }

    private void ConvertResize()
    {
        var node = _node!;
        var x = Input(0);
        var output = node.Output[0];
        var outShape = ShapeOf(output);
        if (x.Rank != 4 || outShape[0] != x.Shape[0] || outShape[1] != x.Shape[1])
            throw Unsupported("resizing other than the two spatial axes of an image; TFLite's RESIZE_* scale height and width only");
        var mode = AttrString("mode", "nearest");
        var transform = AttrString("coordinate_transformation_mode", node.OpType == "Upsample" ? "asymmetric" : "half_pixel");
        var nearestMode = AttrString("nearest_mode", node.OpType == "Upsample" ? "floor" : "round_prefer_floor");
        var upscale = outShape[2] % x.Shape[2] == 0 && outShape[3] % x.Shape[3] == 0;
        (TfliteOp Op, TfliteOptions Options) resize = (mode, transform) switch
        {
            ("linear", "half_pixel" or "pytorch_half_pixel") => (TfliteOp.ResizeBilinear, TfliteOptions.ResizeBilinear(false, true)),
            ("linear", "align_corners") => (TfliteOp.ResizeBilinear, TfliteOptions.ResizeBilinear(true, false)),
            ("linear", "asymmetric") => (TfliteOp.ResizeBilinear, TfliteOptions.ResizeBilinear(false, false)),
            ("nearest", "asymmetric") when nearestMode == "floor" => (TfliteOp.ResizeNearestNeighbor, TfliteOptions.ResizeNearest(false, false)),
            // For whole-number upscaling, ONNX's half-pixel rounding picks the same source pixels as TFLite's half-pixel floor.
            ("nearest", "half_pixel" or "pytorch_half_pixel" or "tf_half_pixel_for_nn") when upscale || transform == "tf_half_pixel_for_nn" =>
                (TfliteOp.ResizeNearestNeighbor, TfliteOptions.ResizeNearest(false, true)),
            ("nearest", "asymmetric") when upscale => (TfliteOp.ResizeNearestNeighbor, TfliteOptions.ResizeNearest(false, false)),
            _ => throw Unsupported($"resize mode '{mode}' with coordinate_transformation_mode '{transform}'" +
                                   (mode == "nearest" ? $" and nearest_mode '{nearestMode}'" : "") + "; TFLite has no such resize"),
        };
        x = InLayout(x, Nchw2Nhwc);
        var int8 = x.Quant is not null;
        var source = int8 ? x.Quant! : x.Float!;
        var result = new Value { Perm = Nchw2Nhwc, Shape = outShape };
        var target = Model.AddTensor(output, result.TfliteShape, source.Type, quantization: source.Quantization);
        Model.AddOperator(resize.Op, [source.Index, IntConstant(output + "_size", [(int)outShape[2], (int)outShape[3]]).Index], [target.Index],
            resize.Options, version: int8 ? 2 : 1);
        if (int8) result.Quant = target; else result.Float = target;
        Produced(output, result, int8);
    }

    private void ConvertSlice()
    {
        var node = _node!;
        var x = Input(0);
        long[] Ints(int input, string attribute, long[] fallback) =>
            node.Input.Count > input && node.Input[input].Length > 0
                ? IsConst(node.Input[input]) ? ConstInts(node.Input[input]) : throw Unsupported("slice bounds computed at run time")
                : AttrInts(attribute, fallback);
        var starts = Ints(1, "starts", []);
        var ends = Ints(2, "ends", []);
        var axes = Ints(3, "axes", Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray());
        var steps = Ints(4, "steps", Enumerable.Repeat(1L, starts.Length).ToArray());
        if (steps.Any(s => s <= 0)) throw Unsupported("a slice with a negative step");
        var begin = new int[x.Rank];
        var end = x.TfliteShape;
        var stride = Enumerable.Repeat(1, x.Rank).ToArray();
        for (var i = 0; i < axes.Length; i++)
        {
            var axis = TfliteAxis(x, axes[i]);
            var size = end[axis];
            long Clamp(long v) => Math.Clamp(v < 0 ? v + size : v, 0, size);
            begin[axis] = (int)Clamp(starts[i]);
            end[axis] = (int)Clamp(ends[i]);
            stride[axis] = (int)steps[i];
        }
        _map[node.Output[0]] = StridedSlice(x, begin, end, stride, node.Output[0], ShapeOf(node.Output[0]));
    }

    private void ConvertSplit()
    {
        var node = _node!;
        var x = Input(0);
        var axis = TfliteAxis(x, AttrInt("axis", 0));
        var offset = 0;
        foreach (var output in node.Output)
        {
            var shape = ShapeOf(output);
            var size = (int)shape[x.Perm[axis]];
            var begin = new int[x.Rank];
            var end = x.TfliteShape;
            begin[axis] = offset;
            end[axis] = offset + size;
            offset += size;
            _map[output] = StridedSlice(x, begin, end, Enumerable.Repeat(1, x.Rank).ToArray(), output, shape);
        }
    }

    /// <summary>STRIDED_SLICE on TFLite axes; the result keeps the value's axis order (and int8 parameters).</summary>
    private Value StridedSlice(Value x, int[] begin, int[] end, int[] stride, string output, long[] outShape)
    {
        var int8 = x.Quant is not null;
        var source = int8 ? x.Quant! : x.Float!;
        var result = new Value { Perm = x.Perm, Shape = outShape };
        var target = Model.AddTensor(output, result.TfliteShape, source.Type, quantization: source.Quantization);
        Model.AddOperator(TfliteOp.StridedSlice,
            [source.Index, IntConstant(output + "_begin", begin).Index, IntConstant(output + "_end", end).Index,
             IntConstant(output + "_strides", stride).Index],
            [target.Index], TfliteOptions.StridedSlice(), version: int8 ? 2 : 1);
        if (int8) result.Quant = target; else result.Float = target;
        return result;
    }

    private void ConvertReduce(TfliteOp op, bool int8Capable)
    {
        var node = _node!;
        var x = Input(0);
        var output = node.Output[0];
        var axes = node.Input.Count > 1 && node.Input[1].Length > 0
            ? IsConst(node.Input[1]) ? ConstInts(node.Input[1]) : throw Unsupported("axes computed at run time")
            : AttrInts("axes", Enumerable.Range(0, x.Rank).Select(i => (long)i).ToArray());
        var keep = AttrInt("keepdims", 1) != 0;
        var reduced = axes.Select(a => TfliteAxis(x, a)).Order().ToArray();
        // Without keepdims the remaining axes keep their relative TFLite order; renumber their ONNX axes.
        int[] perm;
        if (keep) perm = x.Perm;
        else
        {
            var remaining = Enumerable.Range(0, x.Rank).Where(i => !reduced.Contains(i)).Select(i => x.Perm[i]).ToArray();
            var sorted = remaining.Order().ToArray();
            perm = remaining.Select(p => Array.IndexOf(sorted, p)).ToArray();
        }
        var outParams = OutputParams(output);
        var int8 = int8Capable && x.Quant is not null && outParams is not null;
        var result = new Value { Perm = perm, Shape = ShapeOf(output) };
        var target = Model.AddTensor(output, result.TfliteShape, int8 ? TfliteType.Int8 : TfliteType.Float32,
            quantization: int8 ? (op == TfliteOp.ReduceMax ? x.Quant!.Quantization : outParams) : null);
        Model.AddOperator(op, [int8 ? x.Quant!.Index : FloatOf(x).Index, IntConstant(output + "_axes", reduced).Index], [target.Index],
            TfliteOptions.Reducer(keep), version: int8 ? 2 : 1);
        if (int8) result.Quant = target; else result.Float = target;
        Produced(output, result, int8);
    }

    private void ConvertGather()
    {
        var node = _node!;
        var output = node.Output[0];
        var outShape = ShapeOf(output);
        var axis = AttrInt("axis", 0);
        TfliteTensor data, indices;
        if (IsConst(node.Input[0]))
        {
            // An embedding table looked up by computed ids.
            var table = ConstArray(node.Input[0]);
            data = FloatConstant(node.Input[0], table.Shape.Select(d => (int)d).ToArray(), ConstFloats(node.Input[0]), weight: true);
            var ids = Plain(Input(1));
            indices = ids.Float ?? throw Unsupported("quantized indices");
        }
        else
        {
            var x = Plain(Input(0));
            data = FloatOf(x);
            if (!IsConst(node.Input[1])) throw Unsupported("indices and data both computed at run time");
            var values = ConstInts(node.Input[1]).Select(v => (int)(v < 0 ? v + x.Shape[(int)(axis < 0 ? axis + x.Rank : axis)] : v)).ToArray();
            indices = Model.AddTensor(node.Input[1], ShapeOf(node.Input[1]).Select(d => (int)d).ToArray(), TfliteType.Int32, Bytes(values));
        }
        var result = new Value { Perm = Identity(outShape.Length), Shape = outShape };
        result.Float = Model.AddTensor(output, outShape.Select(d => (int)d).ToArray(), TfliteType.Float32);
        Model.AddOperator(TfliteOp.Gather, [data.Index, indices.Index], [result.Float.Index],
            TfliteOptions.Gather((int)(axis < 0 ? axis + ShapeOf(node.Input[0]).Length : axis)));
        Produced(output, result, int8: false);
    }

    private void ConvertDepthToSpace()
    {
        var x = Input(0);
        if (AttrString("mode", "DCR") != "DCR")
            throw Unsupported("DepthToSpace in CRD mode (PixelShuffle); TFLite's DEPTH_TO_SPACE is DCR");
        x = InLayout(x, Nchw2Nhwc);
        var output = _node!.Output[0];
        var int8 = x.Quant is not null;
        var source = int8 ? x.Quant! : x.Float!;
        var result = new Value { Perm = Nchw2Nhwc, Shape = ShapeOf(output) };
        var target = Model.AddTensor(output, result.TfliteShape, source.Type, quantization: source.Quantization);
        Model.AddOperator(TfliteOp.DepthToSpace, [source.Index], [target.Index], TfliteOptions.DepthToSpace((int)AttrInt("blocksize", 1)));
        if (int8) result.Quant = target; else result.Float = target;
        _map[output] = result;
    }

    private void ConvertBatchMatMul()
    {
        var node = _node!;
        var output = node.Output[0];
        var outShape = ShapeOf(output);
        TfliteTensor Operand(int i) => IsConst(node.Input[i])
            ? FloatConstant(node.Input[i], ShapeOf(node.Input[i]).Select(d => (int)d).ToArray(), ConstFloats(node.Input[i]), weight: true)
            : FloatOf(Plain(Input(i)));
        var a = Operand(0);
        var b = Operand(1);
        if (a.Shape.Length < 2 || b.Shape.Length < 2) throw Unsupported("a matrix product of a vector; TFLite's BATCH_MATMUL multiplies matrices");
        var result = new Value { Perm = Identity(outShape.Length), Shape = outShape };
        result.Float = Model.AddTensor(output, outShape.Select(d => (int)d).ToArray(), TfliteType.Float32);
        Model.AddOperator(TfliteOp.BatchMatMul, [a.Index, b.Index], [result.Float.Index], TfliteOptions.BatchMatMul());
        Produced(output, result, int8: false);
    }
}
