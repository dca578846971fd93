using ModelBuild.Onnx;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>The fused transformer fast paths PyTorch takes in eval mode (_transformer_encoder_layer_fwd,
/// _native_multi_head_attention) and scaled_dot_product_attention, spelled out as MatMul/Softmax/LayerNorm.</summary>
public static partial class AttentionOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(EncoderLayer, "_transformer_encoder_layer_fwd");
        r.Add(NativeMha, "_native_multi_head_attention");
        r.Add(NestedFromMask, "_nested_tensor_from_mask");
        r.Add(ToPadded, "to_padded_tensor");
        r.Add(c => ScaledDotProduct(c, c.OptionalTensor(3, "attn_mask"), c.Bool(5, "is_causal"), c.Arg(6, "scale")).Output,
            "scaled_dot_product_attention");
        // PyTorch 1.13's private form: (q, k, v, attn_mask, dropout_p, need_attn_weights, is_causal) → (output, weights).
        r.Add(c => ScaledDotProduct(c, c.OptionalTensor(3, "attn_mask"), c.Bool(6, "is_causal"), null) is var (o, w)
            ? new TupleValue([o, c.Bool(5, "need_attn_weights") ? w : null]) : null, "_scaled_dot_product_attention");
    }
}

public static partial class AttentionOps
{
    private static object EncoderLayer(OpCall c)
    {
        var x = c.Tensor(0, "src");
        var embed = c.Int(1, "embed_dim");
        var heads = c.Int(2, "num_heads");
        var qkvW = c.Tensor(3, "qkv_weight");
        var qkvB = c.OptionalTensor(4, "qkv_bias");
        var projW = c.Tensor(5, "proj_weight");
        var projB = c.OptionalTensor(6, "proj_bias");
        var useGelu = c.Bool(7, "use_gelu");
        var normFirst = c.Bool(8, "norm_first");
        var eps = c.Double(9, "eps", 1e-5);
        var n1W = c.OptionalTensor(10, "norm_weight_1");
        var n1B = c.OptionalTensor(11, "norm_bias_1");
        var n2W = c.OptionalTensor(12, "norm_weight_2");
        var n2B = c.OptionalTensor(13, "norm_bias_2");
        var f1W = c.Tensor(14, "ffn_weight_1");
        var f1B = c.OptionalTensor(15, "ffn_bias_1");
        var f2W = c.Tensor(16, "ffn_weight_2");
        var f2B = c.OptionalTensor(17, "ffn_bias_2");
        if (x.Rank != 3) throw c.Unsupported("unbatched input");
        var e = c.E;
        var scoreMask = x.Valid is { } valid ? KeyPadding(c, e.Unary("Not", valid)) : FusedMask(c, 18, 19);

        TensorValue SelfAttention(TensorValue h) =>
            Attention(c, h, h, h, embed, heads, qkvW, qkvB, projW, projB, false, false, scoreMask).Output;
        TensorValue Ffn(TensorValue h)
        {
            var hidden = LinearOps.Linear(c, h, f1W, f1B);
            hidden = useGelu ? ActivationOps.Gelu(c, hidden, "none") : e.Unary("Relu", hidden);
            return LinearOps.Linear(c, hidden, f2W, f2B);
        }
        TensorValue Norm(TensorValue h, TensorValue? w, TensorValue? b) => NormalizationOps.LayerNorm(c, h, 1, w, b, eps);

        TensorValue output;
        if (normFirst)
        {
            var h = e.Binary("Add", x, SelfAttention(Norm(x, n1W, n1B)));
            output = e.Binary("Add", h, Ffn(Norm(h, n2W, n2B)));
        }
        else
        {
            var h = Norm(e.Binary("Add", x, SelfAttention(x)), n1W, n1B);
            output = Norm(e.Binary("Add", h, Ffn(h)), n2W, n2B);
        }
        return x.Valid is null ? output : new TensorValue(output.Name, output.Type, output.Dims) { Valid = x.Valid };
    }

    /// <summary>The mask argument of a fused path with its mask_type: 1 is a [B, S] key padding mask; otherwise a mask
    /// that broadcasts to the scores as it is.</summary>
    private static TensorValue? FusedMask(OpCall c, int maskIndex, int typeIndex) => c.OptionalTensor(maskIndex, "mask") is { } mask
        ? c.Int(typeIndex, "mask_type", 2) == 1 ? KeyPadding(c, mask) : mask
        : null;

    /// <summary>Scores with a mask: a bool mask marks what takes part (<paramref name="keepWhereTrue"/>, SDPA's rule) or
    /// what may not (attn_mask's and key padding's rule), the rest gets −∞; a float mask is added.</summary>
    private static TensorValue MaskScores(OpCall c, TensorValue scores, TensorValue? mask, bool keepWhereTrue)
    {
        if (mask is null) return scores;
        if (mask.Type != TensorElementType.Bool) return c.E.Binary("Add", scores, c.E.Cast(mask, scores.Type));
        var blocked = c.G.Scalar(double.NegativeInfinity, scores.Type);
        return c.E.Node("Where", [mask.Name, keepWhereTrue ? scores.Name : blocked, keepWhereTrue ? blocked : scores.Name], scores.Type,
            Emitter.Broadcast(mask.Dims, scores.Dims));
    }

    /// <summary>A [B, S] key padding mask (true or non-zero where padded) as a [B, 1, 1, S] mask of the scores.</summary>
    private static TensorValue KeyPadding(OpCall c, TensorValue padded) =>
        padded.Rank == 2 ? c.E.Unsqueeze(padded, 1, 2) : throw c.Unsupported($"a key padding mask of rank {padded.Rank}");

    /// <summary>_nested_tensor_from_mask(x, mask): the padded x, carrying which positions hold tokens.</summary>
    private static object NestedFromMask(OpCall c)
    {
        var x = c.Tensor(0, "t");
        var valid = c.Tensor(1, "mask");
        if (x.Rank != 3 || valid.Rank != 2) throw c.Unsupported("a nested tensor that is not a padded [B, S, E] batch");
        if (valid.Type != TensorElementType.Bool) valid = c.E.Cast(valid, TensorElementType.Bool);
        return new TensorValue(x.Name, x.Type, x.Dims) { Valid = valid };
    }

    /// <summary>to_padded_tensor(nested, padding): the padding value where no token is.</summary>
    private static object ToPadded(OpCall c)
    {
        var x = c.Tensor(0, "self");
        if (c.Arg(2, "output_size") is not null) throw c.Unsupported("to_padded_tensor with an output size");
        if (x.Valid is not { } valid) return x;
        var where = c.E.Unsqueeze(valid, 2);
        return c.E.Node("Where", [where.Name, x.Name, c.G.Scalar(c.Double(1, "padding"), x.Type)], x.Type, x.Dims);
    }

    private static object NativeMha(OpCall c)
    {
        var q = c.Tensor(0, "query");
        var k = c.Tensor(1, "key");
        var v = c.Tensor(2, "value");
        var scoreMask = FusedMask(c, 9, 12);
        var needWeights = c.Bool(10, "need_weights", true);
        var average = c.Bool(11, "average_attn_weights", true);
        var (output, weights) = Attention(c, q, k, v, c.Int(3, "embed_dim"), c.Int(4, "num_head"), c.Tensor(5, "qkv_weight"),
            c.OptionalTensor(6, "qkv_bias"), c.Tensor(7, "proj_weight"), c.OptionalTensor(8, "proj_bias"), needWeights, average, scoreMask);
        return new TupleValue([output, weights]);
    }

    /// <summary>Multi-head attention on [B, S, E]: project (one fused projection when q, k, v are one tensor),
    /// split heads, softmax(q·kᵀ/√d + mask)·v, merge heads, output projection. A bool mask broadcast to the scores
    /// [B, H, L, S] is true where attention is not allowed (PyTorch's attn_mask rule); a float mask is added.</summary>
    public static (TensorValue Output, TensorValue? Weights) Attention(OpCall c, TensorValue query, TensorValue key, TensorValue value,
        long embed, long heads, TensorValue qkvW, TensorValue? qkvB, TensorValue projW, TensorValue? projB, bool needWeights, bool average,
        TensorValue? mask = null)
    {
        var e = c.E;
        var headDim = embed / heads;
        TensorValue q, k, v;
        if (ReferenceEquals(query, key) && ReferenceEquals(key, value))
        {
            var parts = e.Split(LinearOps.Linear(c, query, qkvW, qkvB), 2, [embed, embed, embed]);
            (q, k, v) = (parts[0], parts[1], parts[2]);
        }
        else
        {
            var ws = e.Split(qkvW, 0, [embed, embed, embed]);
            var bs = qkvB is null ? null : e.Split(qkvB, 0, [embed, embed, embed]);
            q = LinearOps.Linear(c, query, ws[0], bs?[0]);
            k = LinearOps.Linear(c, key, ws[1], bs?[1]);
            v = LinearOps.Linear(c, value, ws[2], bs?[2]);
        }
        TensorValue Heads(TensorValue t, long[] perm) =>
            e.Transpose(e.Reshape(t, [t.Dims[0], t.Dims[1], SymInt.Of(heads), SymInt.Of(headDim)]), perm);
        var qh = Heads(q, [0, 2, 1, 3]);   // [B, H, S, D]
        var kh = Heads(k, [0, 2, 3, 1]);   // [B, H, D, S]
        var vh = Heads(v, [0, 2, 1, 3]);
        var scores = MaskScores(c, e.Binary("Mul", e.MatMul(qh, kh), 1.0 / Math.Sqrt(headDim)), mask, keepWhereTrue: false);
        var probs = e.Unary("Softmax", scores, Attr.Int("axis", 3));
        var context = e.Transpose(e.MatMul(probs, vh), [0, 2, 1, 3]); // [B, S, H, D]
        var merged = e.Reshape(context, [context.Dims[0], context.Dims[1], SymInt.Of(embed)]);
        var output = LinearOps.Linear(c, merged, projW, projB);
        TensorValue? weights = null;
        if (needWeights) weights = average ? e.Reduce("ReduceMean", probs, [1], false) : probs;
        return (output, weights);
    }

    /// <summary>softmax(q·kᵀ·scale + mask)·v over [..., L, E] × [..., S, E]. A boolean mask keeps where true (−∞
    /// elsewhere), a float mask is added; is_causal keeps key j ≤ query i. scale defaults to 1/√E.</summary>
    private static (TensorValue Output, TensorValue Weights) ScaledDotProduct(OpCall c, TensorValue? mask, bool causal, object? scale)
    {
        var e = c.E;
        var q = c.Tensor(0, "query");
        var k = c.Tensor(1, "key");
        var v = c.Tensor(2, "value");
        if (c.Has(4, "dropout_p") && c.Double(4, "dropout_p", 0) != 0) throw c.Unsupported("attention dropout (export in eval mode)");
        var depth = q.Dims[^1].Value ?? throw c.Unsupported("attention over a dynamic embedding size");
        var factor = scale is null ? 1.0 / Math.Sqrt(depth) : ScalarMath.ToDouble(scale, "scale");
        var perm = Enumerable.Range(0, k.Rank).Select(i => (long)i).ToArray();
        (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
        var scores = e.Binary("Mul", e.MatMul(q, e.Transpose(k, perm)), factor);
        if (causal)
        {
            var rows = q.Dims[^2].Value ?? throw c.Unsupported("is_causal attention over a dynamic sequence length");
            var cols = k.Dims[^2].Value ?? throw c.Unsupported("is_causal attention over a dynamic sequence length");
            var keep = new bool[rows * cols];
            for (long i = 0; i < rows; i++) for (long j = 0; j < cols; j++) keep[i * cols + j] = j <= i;
            mask = e.Constant(new Data.NdArray(TensorElementType.Bool, [rows, cols], keep));
        }
        scores = MaskScores(c, scores, mask, keepWhereTrue: true);
        var weights = e.Unary("Softmax", scores, Attr.Int("axis", -1));
        return (e.MatMul(weights, v), weights);
    }
}
