using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Targets.Tflite;

// The node dispatch, and the ops that are not convolutions, dense layers or pools.
internal sealed partial class TfliteConverter
{
    private void ConvertNode(NodeProto node)
    {
        var op = node.Domain is "" or "ai.onnx" ? node.OpType : node.Domain == "com.microsoft" ? "com.microsoft." + node.OpType : "";
        if (_gelus.TryGetValue(node, out var geluInput))
        {
            Unary(TfliteOp.Gelu, TfliteOptions.Gelu(approximate: false), false, _map[geluInput], node.Output[0]);
            return;
        }
        switch (op)
        {
            case "Gelu": ConvertUnary(TfliteOp.Gelu, TfliteOptions.Gelu(AttrString("approximate", "none") == "tanh"), int8: false); break;
            case "QuantizeLinear": ConvertQuantize(); break;
            case "DequantizeLinear": _map[node.Output[0]] = Input(0); break;
            case "Identity" or "Dropout": _map[node.Output[0]] = Input(0); break;
            case "Cast": ConvertCast(); break;
            case "Where": ConvertWhere(); break;

            case "Conv":
                {
                    var (activation, output) = FuseActivation(node.Output[0]);
                    ConvertConv(activation, output);
                    break;
                }
            case "com.microsoft.FusedConv": ConvertFused(() => ConvertConv(FusedActivation(), node.Output[0])); break;
            case "ConvTranspose": ConvertConvTranspose(); break;
            case "Gemm":
                {
                    var (activation, output) = FuseActivation(node.Output[0]);
                    ConvertFullyConnected(activation, output);
                    break;
                }
            case "com.microsoft.FusedGemm": ConvertFused(() => ConvertFullyConnected(FusedActivation(), node.Output[0])); break;
            case "MatMul":
                if (IsConst(node.Input[1]) && ShapeOf(node.Input[1]).Length == 2 && !IsConst(node.Input[0]))
                {
                    var (activation, output) = FuseActivation(node.Output[0]);
                    ConvertFullyConnected(activation, output);
                }
                else ConvertBatchMatMul();
                break;

            case "MaxPool": ConvertPool(max: true, global: false); break;
            case "AveragePool": ConvertPool(max: false, global: false); break;
            case "GlobalMaxPool": ConvertPool(max: true, global: true); break;
            case "GlobalAveragePool": ConvertPool(max: false, global: true); break;

            case "Add": ConvertBinary(TfliteOp.Add, TfliteOptionsType.Add, int8: true); break;
            case "Sub": ConvertBinary(TfliteOp.Sub, TfliteOptionsType.Sub, int8: true); break;
            case "Mul": ConvertBinary(TfliteOp.Mul, TfliteOptionsType.Mul, int8: true); break;
            case "Div": ConvertBinary(TfliteOp.Div, TfliteOptionsType.Div, int8: false); break;
            case "Max": ConvertBinary(TfliteOp.Maximum, TfliteOptionsType.MaximumMinimum, int8: false); break;
            case "Min": ConvertBinary(TfliteOp.Minimum, TfliteOptionsType.MaximumMinimum, int8: false); break;
            case "Pow": ConvertPow(); break;
            case "Sum": ConvertSum(); break;

            case "Relu": ConvertUnary(TfliteOp.Relu, null, int8: true); break;
            case "Clip": ConvertClip(); break;
            case "Sigmoid": ConvertUnary(TfliteOp.Logistic, null, int8: true, fixedOutput: TfliteQuantization.PerTensor(1f / 256, -128)); break;
            case "Tanh": ConvertUnary(TfliteOp.Tanh, null, int8: true, fixedOutput: TfliteQuantization.PerTensor(1f / 128, 0)); break;
            case "HardSwish": ConvertUnary(TfliteOp.HardSwish, TfliteOptions.Empty(TfliteOptionsType.HardSwish), int8: true); break;
            case "LeakyRelu": ConvertUnary(TfliteOp.LeakyRelu, TfliteOptions.LeakyRelu(AttrFloat("alpha", 0.01f)), int8: true); break;
            case "Elu" when AttrFloat("alpha", 1) == 1: ConvertUnary(TfliteOp.Elu, null, int8: false); break;
            case "Exp": ConvertUnary(TfliteOp.Exp, null, int8: false); break;
            case "Log": ConvertUnary(TfliteOp.Log, null, int8: false); break;
            case "Sqrt": ConvertUnary(TfliteOp.Sqrt, null, int8: false); break;
            case "Abs": ConvertUnary(TfliteOp.Abs, null, int8: false); break;
            case "Neg": ConvertUnary(TfliteOp.Neg, null, int8: false); break;
            case "Floor": ConvertUnary(TfliteOp.Floor, null, int8: false); break;
            case "Reciprocal": ConvertReciprocal(); break;
            case "HardSigmoid": ConvertHardSigmoid(Input(0), node.Output[0]); break;
            case "PRelu": ConvertPRelu(); break;
            case "Softmax": ConvertSoftmax(); break;
            case "BatchNormalization": ConvertBatchNorm(); break;
            case "LayerNormalization": ConvertLayerNorm(); break;
            case "InstanceNormalization": ConvertInstanceNorm(); break;

            case "Flatten" or "Reshape" or "Squeeze" or "Unsqueeze": ConvertReshape(); break;
            case "Transpose": ConvertTranspose(); break;
            case "Concat": ConvertConcat(); break;
            case "Pad": ConvertPad(); break;
            case "Resize" or "Upsample": ConvertResize(); break;
            case "Slice": ConvertSlice(); break;
            case "Split": ConvertSplit(); break;
            case "ReduceMean": ConvertReduce(TfliteOp.Mean, int8Capable: true); break;
            case "ReduceMax": ConvertReduce(TfliteOp.ReduceMax, int8Capable: true); break;
            case "ReduceMin": ConvertReduce(TfliteOp.ReduceMin, int8Capable: false); break;
            case "ReduceSum": ConvertReduce(TfliteOp.Sum, int8Capable: false); break;
            case "Gather": ConvertGather(); break;
            case "DepthToSpace": ConvertDepthToSpace(); break;

            default:
                throw Unsupported(op.Length == 0
                    ? $"operators of domain '{node.Domain}' have no TFLite equivalent"
                    : "this operator (or this form of it) has no TFLite equivalent that the writer knows; deploy a variant without it, " +
                      "or keep 'mobile: ort'");
        }
    }

    // ---- quantization, casts ------------------------------------------------------------------------------------

    private void ConvertQuantize()
    {
        var x = Input(0);
        if (QuantParams(_node!) is not { } p)
        {
            // Per-channel activation scales have no TFLite form: the value stays float (slightly less rounding).
            _map[_node!.Output[0]] = x;
            return;
        }
        _map[_node!.Output[0]] = new Value { Perm = x.Perm, Shape = x.Shape, Quant = QuantOf(x, p) };
    }

    private void ConvertCast()
    {
        var to = (int)AttrInt("to", 0);
        var x = Input(0);
        var output = _node!.Output[0];
        var from = x.Quant is not null ? TfliteType.Float32 : x.Float!.Type;
        var target = to switch
        {
            TensorData.Float or TensorData.Float16 or TensorData.Double => TfliteType.Float32,
            // int64 values are int32 tensors here (TFLite's index type), so both integer widths are one type.
            TensorData.Int64 or TensorData.Int32 => TfliteType.Int32,
            TensorData.Bool => TfliteType.Bool,
            _ => throw Unsupported($"a cast to ONNX type {to}"),
        };
        // Float ↔ float casts (fp16 islands) vanish: TFLite computes in float32, with float16 only in the stored weights.
        if (from == target)
        {
            _map[output] = x;
            return;
        }
        var source = FloatOrOwn(x);
        var result = new Value { Perm = x.Perm, Shape = ShapeOf(output) };
        result.Float = Model.AddTensor(output, result.TfliteShape, target);
        Model.AddOperator(TfliteOp.Cast, [source.Index], [result.Float.Index], TfliteOptions.Cast(source.Type, target));
        Produced(output, result, int8: false);
    }

    /// <summary>A value's tensor as computed: float (dequantized if need be) or its own integer/bool type.</summary>
    private TfliteTensor FloatOrOwn(Value x) => x.Quant is not null ? FloatOf(x) : x.Float!;

    /// <summary>Where(condition, a, b) → SELECT_V2, which broadcasts like ONNX.</summary>
    private void ConvertWhere()
    {
        var node = _node!;
        var output = node.Output[0];
        var rank = ShapeOf(output).Length;
        TfliteTensor Operand(int i)
        {
            var name = node.Input[i];
            if (!IsConst(name)) return FloatOrOwn(Plain(_map[name]));
            var array = ConstArray(name);
            var shape = array.Shape.Select(d => (int)d).ToArray();
            return array.ElementType switch
            {
                TensorElementType.Bool => Model.AddTensor(name, shape, TfliteType.Bool, ((bool[])array.Data).Select(b => (byte)(b ? 1 : 0)).ToArray()),
                TensorElementType.Int64 or TensorElementType.Int32 => Model.AddTensor(name, shape, TfliteType.Int32,
                    Bytes(array.ToDoubles().Select(v => (int)v).ToArray())),
                // −∞ masks stay finite: float's lowest value still vanishes in a softmax, and runtimes need not handle ∞.
                _ => FloatConstant(name, shape, ConstFloats(name).Select(v => float.IsNegativeInfinity(v) ? float.MinValue : v).ToArray()),
            };
        }
        var condition = Operand(0);
        var a = Operand(1);
        var b = Operand(2);
        var result = new Value { Perm = Identity(rank), Shape = ShapeOf(output) };
        result.Float = Model.AddTensor(output, result.TfliteShape, a.Type);
        Model.AddOperator(TfliteOp.SelectV2, [condition.Index, a.Index, b.Index], [result.Float.Index],
            TfliteOptions.Empty(TfliteOptionsType.SelectV2));
        Produced(output, result, int8: false);
    }

    // ---- elementwise -------------------------------------------------------------------------------------------

    private void ConvertUnary(TfliteOp op, TfliteOptions? options, bool int8, TfliteQuantization? fixedOutput = null) =>
        Unary(op, options, int8, Input(0), _node!.Output[0], fixedOutput);

    private Value Unary(TfliteOp op, TfliteOptions? options, bool int8Capable, Value x, string output, TfliteQuantization? fixedOutput = null)
    {
        var outParams = OutputParams(output);
        var int8 = int8Capable && x.Quant is not null && outParams is not null;
        var result = new Value { Perm = x.Perm, Shape = ShapeOf(output) };
        if (int8)
        {
            // Kernels with fixed output parameters (LOGISTIC, TANH) produce those, then requantize to the model's.
            var direct = fixedOutput is null || fixedOutput.SameAs(outParams);
            var target = Model.AddTensor(direct ? output : output + "_fixed", result.TfliteShape, TfliteType.Int8,
                quantization: direct ? outParams : fixedOutput);
            Model.AddOperator(op, [x.Quant!.Index], [target.Index], options, version: 2);
            result.Quant = target;
            if (!direct) result.Quant = QuantOf(new Value { Perm = x.Perm, Shape = result.Shape, Quant = target }, outParams!);
        }
        else
        {
            result.Float = Model.AddTensor(output, result.TfliteShape, TfliteType.Float32);
            Model.AddOperator(op, [FloatOf(x).Index], [result.Float.Index], options);
        }
        if (op is TfliteOp.Relu or TfliteOp.Relu6) _nonNegative.Add((result.Quant ?? result.Float)!.Index);
        Produced(output, result, int8);
        return result;
    }

    /// <summary>1 / x as DIV by a constant one (TFLite has no reciprocal; RSQRT only when a Sqrt precedes).</summary>
    private void ConvertReciprocal()
    {
        var x = Input(0);
        var output = _node!.Output[0];
        var result = new Value { Perm = x.Perm, Shape = ShapeOf(output) };
        result.Float = Model.AddTensor(output, result.TfliteShape, TfliteType.Float32);
        Model.AddOperator(TfliteOp.Div, [FloatConstant(output + "_one", [], [1f]).Index, FloatOf(x).Index], [result.Float.Index],
            TfliteOptions.Binary(TfliteOptionsType.Div, TfliteActivation.None));
        Produced(output, result, int8: false);
    }

    private void ConvertClip()
    {
        var activation = ActivationOf(_node!);
        switch (activation)
        {
            case TfliteActivation.Relu6: ConvertUnary(TfliteOp.Relu6, null, int8: true); return;
            case TfliteActivation.Relu: ConvertUnary(TfliteOp.Relu, null, int8: true); return;
            case TfliteActivation.ReluN1To1: ConvertUnary(TfliteOp.ReluN1To1, null, int8: true); return;
        }
        var (low, high) = ClipBounds(_node!);
        if (float.IsNaN(low) || float.IsNaN(high)) throw Unsupported("Clip bounds computed at run time");
        var x = FloatOf(Input(0));
        var output = _node!.Output[0];
        var shape = ShapeOf(output);
        var value = new Value { Perm = Input(0).Perm, Shape = shape };
        var current = x;
        if (!float.IsNegativeInfinity(low))
        {
            var next = Model.AddTensor(float.IsPositiveInfinity(high) ? output : output + "_low", value.TfliteShape, TfliteType.Float32);
            Model.AddOperator(TfliteOp.Maximum, [current.Index, FloatConstant(output + "_min", [], [low]).Index], [next.Index],
                TfliteOptions.Empty(TfliteOptionsType.MaximumMinimum));
            current = next;
        }
        if (!float.IsPositiveInfinity(high))
        {
            var next = Model.AddTensor(output, value.TfliteShape, TfliteType.Float32);
            Model.AddOperator(TfliteOp.Minimum, [current.Index, FloatConstant(output + "_max", [], [high]).Index], [next.Index],
                TfliteOptions.Empty(TfliteOptionsType.MaximumMinimum));
            current = next;
        }
        value.Float = current;
        Produced(output, value, int8: false);
    }

    /// <summary>HardSigmoid(x) = clamp(αx + β, 0, 1) = RELU6(6αx + 6β) / 6: MUL, ADD, RELU6, MUL.</summary>
    private void ConvertHardSigmoid(Value x, string output)
    {
        var alpha = AttrFloat("alpha", 0.2f);
        var beta = AttrFloat("beta", 0.5f);
        var shape = x.TfliteShape;
        var input = FloatOf(x);
        TfliteTensor Step(TfliteOp op, TfliteTensor a, float constant, string suffix, TfliteOptionsType type)
        {
            var result = Model.AddTensor(output + suffix, shape, TfliteType.Float32);
            Model.AddOperator(op, [a.Index, FloatConstant(output + suffix + "_c", [], [constant]).Index], [result.Index],
                TfliteOptions.Binary(type, TfliteActivation.None));
            return result;
        }
        var scaled = Step(TfliteOp.Mul, input, 6 * alpha, "_scaled", TfliteOptionsType.Mul);
        var shifted = Model.AddTensor(output + "_shifted", shape, TfliteType.Float32);
        Model.AddOperator(TfliteOp.Add, [scaled.Index, FloatConstant(output + "_beta", [], [6 * beta]).Index], [shifted.Index],
            TfliteOptions.Binary(TfliteOptionsType.Add, TfliteActivation.Relu6));
        var result = Step(TfliteOp.Mul, shifted, 1f / 6, "", TfliteOptionsType.Mul);
        result.Name = output;
        Produced(output, new Value { Perm = x.Perm, Shape = x.Shape, Float = result }, int8: false);
    }

    private void ConvertPRelu()
    {
        var x = Input(0);
        var output = _node!.Output[0];
        if (!IsConst(_node.Input[1])) throw Unsupported("a slope computed at run time");
        var slope = ConstValue(_node.Input[1], x.Rank, x.Perm);
        var result = new Value { Perm = x.Perm, Shape = ShapeOf(output) };
        result.Float = Model.AddTensor(output, result.TfliteShape, TfliteType.Float32);
        Model.AddOperator(TfliteOp.Prelu, [FloatOf(x).Index, slope.Float!.Index], [result.Float.Index]);
        Produced(output, result, int8: false);
    }

    private void ConvertBinary(TfliteOp op, TfliteOptionsType optionsType, bool int8)
    {
        var node = _node!;
        var output = node.Output[0];
        var rank = ShapeOf(output).Length;
        var a = node.Input[0];
        var b = node.Input[1];
        // Dividing by a constant is multiplying by its reciprocal: MUL has int8 and wider runtime support than DIV.
        if (op == TfliteOp.Div && IsConst(b) && !IsConst(a))
        {
            var reciprocal = ConstArray(b);
            var values = reciprocal.ToDoubles().Select(v => (float)(1 / v)).ToArray();
            Binary(TfliteOp.Mul, TfliteOptionsType.Mul, false, Input(0), new ConstOperand(b + "_reciprocal", values, reciprocal.Shape),
                output, rank);
            return;
        }
        if (IsConst(a) && IsConst(b)) throw Unsupported("both operands are constant");
        Binary(op, optionsType, int8, IsConst(a) ? null : _map[a], IsConst(b) ? null : _map[b], output, rank, IsConst(a) ? a : null,
            IsConst(b) ? b : null);
    }

    /// <summary>A constant operand given as values and its ONNX shape.</summary>
    private sealed record ConstOperand(string Name, float[] Values, long[] Shape);

    private void Binary(TfliteOp op, TfliteOptionsType optionsType, bool int8Capable, Value x, ConstOperand constant, string output, int rank)
    {
        var shape = Enumerable.Repeat(1L, rank - constant.Shape.Length).Concat(constant.Shape).ToArray();
        var perm = x.Rank == rank ? x.Perm : Identity(rank);
        if (x.Rank != rank) x = Plain(x);
        var (data, tshape) = Permute(constant.Values, shape, perm);
        var c = new Value { Perm = perm, Shape = shape, Float = FloatConstant(constant.Name, tshape.Select(d => (int)d).ToArray(), data, weight: true) };
        BinaryOn(op, optionsType, int8Capable, x, c, output, perm);
    }

    private void Binary(TfliteOp op, TfliteOptionsType optionsType, bool int8Capable, Value? a, Value? b, string output, int rank,
        string? constA, string? constB)
    {
        // The operands' axis order: a full-rank computed operand's; ONNX's own when a computed operand has a lower rank.
        var computed = new[] { a, b }.Where(v => v is not null).Select(v => v!).ToList();
        var lead = computed.FirstOrDefault(v => v.Rank == rank && !v.IsPlain);
        var perm = lead is not null && computed.All(v => v.Rank == rank) ? lead.Perm : Identity(rank);
        Value Operand(Value? v, string? constName) =>
            v is not null ? (v.Rank == rank ? InLayout(v, perm) : Plain(v)) : ConstOperandValue(constName!, rank, perm);
        BinaryOn(op, optionsType, int8Capable, Operand(a, constA), Operand(b, constB), output, perm);
    }

    private Value ConstOperandValue(string name, int rank, int[] perm)
    {
        // A quantized constant (DequantizeLinear of an initializer, per tensor) can stay int8 for an int8 op.
        var value = ConstValue(name, rank, perm);
        if (QuantConst(name) is { Scales.Length: 1 } q)
        {
            var shape = Enumerable.Repeat(1L, rank - q.Shape.Length).Concat(q.Shape).ToArray();
            var unsigned = _initializers[_producer[name].Input[0]].DataType == TensorData.UInt8;
            var shift = unsigned ? 128 : 0;
            var (data, tshape) = Permute(q.Values.Select(v => (sbyte)(v - shift)).ToArray(), shape, perm);
            value.Quant = Model.AddTensor(name + "_q", tshape.Select(d => (int)d).ToArray(), TfliteType.Int8, Bytes(data),
                TfliteQuantization.PerTensor(q.Scales[0], q.ZeroPoints[0] - shift));
        }
        return value;
    }

    private void BinaryOn(TfliteOp op, TfliteOptionsType optionsType, bool int8Capable, Value left, Value right, string output, int[] perm)
    {
        var fusable = op is TfliteOp.Add or TfliteOp.Sub or TfliteOp.Mul or TfliteOp.Div;
        var (activation, final) = fusable ? FuseActivation(output) : (TfliteActivation.None, output);
        var outParams = OutputParams(final);
        var int8 = int8Capable && left.Quant is not null && right.Quant is not null && outParams is not null;
        var result = new Value { Perm = perm, Shape = ShapeOf(final) };
        var options = fusable ? TfliteOptions.Binary(optionsType, activation) : TfliteOptions.Empty(optionsType);
        if (int8)
        {
            result.Quant = Model.AddTensor(final, result.TfliteShape, TfliteType.Int8, quantization: outParams);
            Model.AddOperator(op, [left.Quant!.Index, right.Quant!.Index], [result.Quant.Index], options, version: 2);
        }
        else
        {
            result.Float = Model.AddTensor(final, result.TfliteShape, TfliteType.Float32);
            Model.AddOperator(op, [FloatOf(left).Index, FloatOf(right).Index], [result.Float.Index], options);
        }
        if (activation is TfliteActivation.Relu or TfliteActivation.Relu6) _nonNegative.Add((result.Quant ?? result.Float)!.Index);
        Produced(final, result, int8);
    }

    private void ConvertPow()
    {
        var node = _node!;
        if (IsConst(node.Input[1]) && ConstFloats(node.Input[1]) is [var exponent] && exponent is 2f or 0.5f)
        {
            var x = Input(0);
            if (exponent == 0.5f) { Unary(TfliteOp.Sqrt, null, false, x, node.Output[0]); return; }
            BinaryOn(TfliteOp.Mul, TfliteOptionsType.Mul, false, x, x, node.Output[0], x.Perm);
            return;
        }
        ConvertBinary(TfliteOp.Pow, TfliteOptionsType.Pow, int8: false);
    }

    private void ConvertSum()
    {
        var node = _node!;
        if (node.Input.Count == 1) { _map[node.Output[0]] = Input(0); return; }
        if (node.Input.Count != 2) throw Unsupported("Sum of more than two tensors");
        ConvertBinary(TfliteOp.Add, TfliteOptionsType.Add, int8: true);
    }

    private void ConvertSoftmax()
    {
        var x = Input(0);
        var axis = AttrInt("axis", -1);
        if (axis < 0) axis += x.Rank;
        if (axis != x.Rank - 1 && !(x.Shape.Skip((int)axis + 1).All(d => d == 1)))
            throw Unsupported($"softmax over axis {axis} of a rank-{x.Rank} tensor; TFLite's SOFTMAX normalizes the last axis");
        x = TfliteAxis(x, axis) == x.Rank - 1 ? x : Plain(x);
        if (axis != x.Rank - 1) throw Unsupported($"softmax over axis {axis}; TFLite's SOFTMAX normalizes the last axis");
        Unary(TfliteOp.Softmax, TfliteOptions.Softmax(1), true, x, _node!.Output[0], TfliteQuantization.PerTensor(1f / 256, -128));
    }

    /// <summary>Inference BatchNormalization on its own (not after a Conv): x·a + c per channel, a = γ/√(var + ε), c = β − mean·a.</summary>
    private void ConvertBatchNorm()
    {
        var x = Input(0);
        var gamma = RequireConstFloats(1, "scale");
        var beta = RequireConstFloats(2, "bias");
        var mean = RequireConstFloats(3, "mean");
        var variance = RequireConstFloats(4, "variance");
        var epsilon = AttrFloat("epsilon", 1e-5f);
        var a = gamma.Select((g, i) => g / MathF.Sqrt(variance[i] + epsilon)).ToArray();
        var c = beta.Select((b, i) => b - mean[i] * a[i]).ToArray();
        var shape = new long[x.Rank];
        Array.Fill(shape, 1);
        shape[1] = a.Length;
        var output = _node!.Output[0];
        var scaled = Model.AddTensor(output + "_scaled", x.TfliteShape, TfliteType.Float32);
        var (ad, ashape) = Permute(a, shape, x.Perm);
        var (cd, _) = Permute(c, shape, x.Perm);
        var tshape = ashape.Select(d => (int)d).ToArray();
        Model.AddOperator(TfliteOp.Mul, [FloatOf(x).Index, FloatConstant(output + "_a", tshape, ad).Index], [scaled.Index],
            TfliteOptions.Binary(TfliteOptionsType.Mul, TfliteActivation.None));
        var (activation, final) = FuseActivation(output);
        var result = new Value { Perm = x.Perm, Shape = ShapeOf(final) };
        result.Float = Model.AddTensor(final, result.TfliteShape, TfliteType.Float32);
        Model.AddOperator(TfliteOp.Add, [scaled.Index, FloatConstant(output + "_c", tshape, cd).Index], [result.Float.Index],
            TfliteOptions.Binary(TfliteOptionsType.Add, activation));
        Produced(final, result, int8: false);
    }

    /// <summary>LayerNormalization over the trailing axes from <c>axis</c>, scale and bias shaped like those axes.</summary>
    private void ConvertLayerNorm()
    {
        var x = Input(0);
        var axis = AttrInt("axis", -1);
        if (axis < 0) axis += x.Rank;
        Normalize(x, Enumerable.Range((int)axis, x.Rank - (int)axis).ToArray(), channelAxis: null);
    }

    /// <summary>InstanceNormalization: each channel of each sample over its spatial axes, scale and bias per channel.</summary>
    private void ConvertInstanceNorm()
    {
        var x = Input(0);
        Normalize(x, Enumerable.Range(2, x.Rank - 2).ToArray(), channelAxis: 1);
    }

    /// <summary>
    /// (x − mean) · rsqrt(mean((x − mean)²) + ε) · γ + β over <paramref name="axes"/> (ONNX axes), in MEAN, SUB, MUL, ADD
    /// and RSQRT, which every runtime reads; the reduced axes are wherever the layout put them. γ and β broadcast like
    /// the trailing axes (LayerNorm) or run along <paramref name="channelAxis"/> (InstanceNorm).
    /// </summary>
    private void Normalize(Value x, int[] axes, int? channelAxis)
    {
        var node = _node!;
        var output = node.Output[0];
        var epsilon = AttrFloat("epsilon", 1e-5f);
        var reduced = axes.Select(a => TfliteAxis(x, a)).Order().ToArray();
        var shape = x.TfliteShape;
        var reducedShape = shape.Select((d, i) => reduced.Contains(i) ? 1 : d).ToArray();
        var input = FloatOf(x);
        TfliteTensor Op(TfliteOp op, int[] inputs, int[] outShape, string suffix, TfliteOptions? options)
        {
            var t = Model.AddTensor(output + suffix, outShape, TfliteType.Float32);
            Model.AddOperator(op, inputs, [t.Index], options);
            return t;
        }
        TfliteOptions Binary(TfliteOptionsType type) => TfliteOptions.Binary(type, TfliteActivation.None);
        var axesTensor = IntConstant(output + "_axes", reduced);
        var mean = Op(TfliteOp.Mean, [input.Index, axesTensor.Index], reducedShape, "_mean", TfliteOptions.Reducer(true));
        var centered = Op(TfliteOp.Sub, [input.Index, mean.Index], shape, "_centered", Binary(TfliteOptionsType.Sub));
        var squared = Op(TfliteOp.Mul, [centered.Index, centered.Index], shape, "_squared", Binary(TfliteOptionsType.Mul));
        var variance = Op(TfliteOp.Mean, [squared.Index, axesTensor.Index], reducedShape, "_variance", TfliteOptions.Reducer(true));
        var shifted = Op(TfliteOp.Add, [variance.Index, FloatConstant(output + "_epsilon", [], [epsilon]).Index], reducedShape, "_plus_epsilon",
            Binary(TfliteOptionsType.Add));
        var inverse = Op(TfliteOp.Rsqrt, [shifted.Index], reducedShape, "_rsqrt", null);
        var current = Op(TfliteOp.Mul, [centered.Index, inverse.Index], shape, "_normalized", Binary(TfliteOptionsType.Mul));
        TfliteTensor Affine(int input)
        {
            var name = node.Input[input];
            if (!IsConst(name)) throw Unsupported($"a {(input == 1 ? "scale" : "bias")} computed at run time");
            if (channelAxis is not { } c) return ConstValue(name, x.Rank, x.Perm).Float!;
            var values = ConstFloats(name);
            var onnxShape = Enumerable.Range(0, x.Rank).Select(i => i == c ? (long)values.Length : 1L).ToArray();
            var (data, tshape) = Permute(values, onnxShape, x.Perm);
            return FloatConstant(name, tshape.Select(d => (int)d).ToArray(), data);
        }
        if (node.Input.Count > 1 && node.Input[1].Length > 0)
            current = Op(TfliteOp.Mul, [current.Index, Affine(1).Index], shape, "_scaled", Binary(TfliteOptionsType.Mul));
        if (node.Input.Count > 2 && node.Input[2].Length > 0)
            current = Op(TfliteOp.Add, [current.Index, Affine(2).Index], shape, "", Binary(TfliteOptionsType.Add));
        current.Name = output;
        Produced(output, new Value { Perm = x.Perm, Shape = ShapeOf(output), Float = current }, int8: false);
    }

    // ---- com.microsoft fused ops (from 'optimize: extended') ----------------------------------------------------

    private TfliteActivation FusedActivation() => AttrString("activation", "") switch
    {
        "" => TfliteActivation.None,
        "Relu" => TfliteActivation.Relu,
        "Clip" when Attr(_node!, "activation_params")?.Floats is [0f, 6f] => TfliteActivation.Relu6,
        "Clip" when Attr(_node!, "activation_params")?.Floats is [-1f, 1f] => TfliteActivation.ReluN1To1,
        _ => TfliteActivation.None,
    };

    /// <summary>A fused op whose activation TFLite cannot fuse gets that activation as its own op after it.</summary>
    private void ConvertFused(Action convert)
    {
        var node = _node!;
        var activation = AttrString("activation", "");
        convert();
        if (activation.Length == 0 || FusedActivation() != TfliteActivation.None) return;
        var output = node.Output[0];
        var pre = _map[output];
        FloatOf(pre).Name = output + "_preactivation";
        var parameters = Attr(node, "activation_params")?.Floats.ToArray() ?? [];
        switch (activation)
        {
            case "Sigmoid": Unary(TfliteOp.Logistic, null, false, pre, output); break;
            case "Tanh": Unary(TfliteOp.Tanh, null, false, pre, output); break;
            case "LeakyRelu": Unary(TfliteOp.LeakyRelu, TfliteOptions.LeakyRelu(parameters.FirstOrDefault(0.01f)), false, pre, output); break;
            case "HardSigmoid" when parameters is [var alpha, var beta]:
                var saved = _node;
                _node = new NodeProto { OpType = "HardSigmoid", Name = node.Name };
                _node.Attribute.Add(new AttributeProto { Name = "alpha", F = alpha, Type = AttributeProto.Types.AttributeType.Float });
                _node.Attribute.Add(new AttributeProto { Name = "beta", F = beta, Type = AttributeProto.Types.AttributeType.Float });
                ConvertHardSigmoid(pre, output);
                _node = saved;
                break;
            default: throw Unsupported($"fused activation '{activation}'");
        }
    }
}
