using ModelBuild.Onnx;
using Onnx;

namespace ModelBuild.Passes.Transformers;

/// <summary>
/// Self-attention → one com.microsoft Attention node (packed Q/K/V weights [in, 3·hidden], bias [3·hidden], the raw
/// 0/1 attention mask as int32). The block it matches is a BERT-style export after ONNX Runtime's extended optimizer:
/// for Q, K and V, MatMul(X, W) (+ bias) → Reshape [.., .., heads, head size] → Transpose (K to [0,2,3,1], or
/// [0,2,1,3] with FusedMatMul transB); scores FusedMatMul(alpha) or MatMul then Div/Mul by a constant; an additive
/// mask (1 − Cast(Unsqueeze(mask)))·c, or none; Softmax(−1); MatMul by V → Transpose [0,2,1,3] → Reshape [.., .., hidden].
/// Anything else is left as it is.
/// </summary>
public static class AttentionFusion
{
    public const string Domain = "com.microsoft";

    /// <summary>Fuses every block that matches; returns how many.</summary>
    public static int Apply(GraphEditor g)
    {
        var masks = new Dictionary<string, string>(StringComparer.Ordinal);
        var fused = 0;
        foreach (var softmax in g.Graph.Node.Where(n => IsOnnx(n, "Softmax")).ToList())
            if (TryFuse(g, softmax, masks)) fused++;
        return fused;
    }

    private static bool TryFuse(GraphEditor g, NodeProto softmax, Dictionary<string, string> masks)
    {
        if (GraphEditor.AttrInt(softmax, "axis", -1) is not (-1 or 3)) return false;
        // Context: probabilities · V → [B, S, heads, size] → [B, S, hidden].
        if (Single(g, softmax.Output[0]) is not { } context || !IsOnnx(context, "MatMul") || context.Input[0] != softmax.Output[0]) return false;
        if (Single(g, context.Output[0]) is not { } back || !IsTranspose(back, 0, 2, 1, 3)) return false;
        if (Single(g, back.Output[0]) is not { } merge || !IsOnnx(merge, "Reshape") || Ints(g, merge.Input[1]) is not { Length: 3 } mergeShape) return false;
        if (Projection(g, context.Input[1], [0, 2, 1, 3]) is not { } v) return false;

        // Scores, with the mask added or not.
        var scores = g.ProducerOf(softmax.Input[0]);
        string? maskSource = null;
        var filter = -10000f;
        if (scores is not null && IsOnnx(scores, "Add"))
        {
            var (qk, mask) = QkFirst(g, scores);
            if (qk is null || Mask(g, mask) is not { } m) return false;
            (maskSource, filter) = m;
            scores = qk;
        }
        if (scores is null || QueryKey(g, scores) is not { } qkv) return false;
        var (q, k, scale) = qkv;
        if (q.Input != k.Input || q.Input != v.Input || q.Heads != k.Heads || q.Heads != v.Heads || q.Size != k.Size) return false;
        var hidden = q.Heads * q.Size;
        if (q.Columns != hidden || k.Columns != hidden || v.Columns != hidden || mergeShape[2] is not (-1 or 0) && mergeShape[2] != v.Heads * v.Size) return false;
        var rows = q.Rows;
        if (k.Rows != rows || v.Rows != rows) return false;

        // Packed weights: each row is [Wq row | Wk row | Wv row]; the bias likewise.
        var (wq, wk, wv) = (TensorData.ToFloats(g.Initializers[q.Weight]), TensorData.ToFloats(g.Initializers[k.Weight]), TensorData.ToFloats(g.Initializers[v.Weight]));
        var packed = new float[rows * 3 * hidden];
        for (long r = 0; r < rows; r++)
        {
            Array.Copy(wq, r * hidden, packed, r * 3 * hidden, hidden);
            Array.Copy(wk, r * hidden, packed, r * 3 * hidden + hidden, hidden);
            Array.Copy(wv, r * hidden, packed, r * 3 * hidden + 2 * hidden, hidden);
        }
        var bias = new float[3 * hidden];
        foreach (var (p, i) in new[] { q, k, v }.Select((p, i) => (p, i)))
            if (p.Bias is { } b) Array.Copy(TensorData.ToFloats(g.Initializers[b]), 0, bias, i * hidden, hidden);

        var prefix = (merge.Name.Length > 0 ? merge.Name : merge.Output[0]) + "_Attention";
        var weights = g.AddInitializer(TensorData.FromFloats(prefix + "_qkv_weight", [rows, 3 * hidden], packed)).Name;
        var biasName = g.AddInitializer(TensorData.FromFloats(prefix + "_qkv_bias", [3 * hidden], bias)).Name;
        var inputs = new List<string> { q.Input, weights, biasName };
        if (maskSource is not null)
        {
            if (!masks.TryGetValue(maskSource, out var index))
            {
                index = g.UniqueName(maskSource + "_mask_index");
                GraphEditor.SetAttr(g.AddNode("Cast", [maskSource], [index], index + "_Cast"), "to", (long)TensorProto.Types.DataType.Int32);
                masks[maskSource] = index;
            }
            inputs.Add(index);
        }
        var attention = g.AddNode("Attention", inputs, [merge.Output[0]], prefix, Domain);
        GraphEditor.SetAttr(attention, "num_heads", q.Heads);
        if (Math.Abs(scale * Math.Sqrt(q.Size) - 1) > 1e-5) GraphEditor.SetAttr(attention, "scale", scale);
        if (maskSource is not null && filter != -10000f) GraphEditor.SetAttr(attention, "mask_filter_value", filter);
        g.Graph.Node.Remove(merge);
        g.Refresh();
        return true;
    }

    /// <summary>One input projection: MatMul(X, W const [in, out]) (+ const bias) → Reshape [.., .., heads, size] → Transpose(perm).</summary>
    private sealed record Proj(string Input, string Weight, string? Bias, long Rows, long Columns, long Heads, long Size);

    private static Proj? Projection(GraphEditor g, string tensor, long[] perm)
    {
        if (g.ProducerOf(tensor) is not { } transpose || !IsTranspose(transpose, perm)) return null;
        if (g.ProducerOf(transpose.Input[0]) is not { } reshape || !IsOnnx(reshape, "Reshape")
            || Ints(g, reshape.Input[1]) is not { Length: 4 } shape) return null;
        var producer = g.ProducerOf(reshape.Input[0]);
        string? bias = null;
        if (producer is not null && IsOnnx(producer, "Add"))
        {
            var constant = producer.Input.FirstOrDefault(g.IsInitializer);
            var other = producer.Input.FirstOrDefault(i => !g.IsInitializer(i));
            if (constant is null || other is null || g.Initializers[constant].Dims.Count != 1) return null;
            bias = constant;
            producer = g.ProducerOf(other);
        }
        if (producer is null || !IsOnnx(producer, "MatMul") || g.IsInitializer(producer.Input[0])
            || !g.Initializers.TryGetValue(producer.Input[1], out var w) || w.Dims.Count != 2 || w.DataType != TensorData.Float) return null;
        if (bias is not null && (g.Initializers[bias].Dims[0] != w.Dims[1] || g.Initializers[bias].DataType != TensorData.Float)) return null;
        var (heads, size) = (shape[2], shape[3]);
        if (heads <= 0 && size > 0) heads = w.Dims[1] / size;
        if (size <= 0 && heads > 0) size = w.Dims[1] / heads;
        if (heads <= 0 || size <= 0 || heads * size != w.Dims[1]) return null;
        return new Proj(producer.Input[0], producer.Input[1], bias, w.Dims[0], w.Dims[1], heads, size);
    }

    /// <summary>Q·Kᵀ and its scale: FusedMatMul(alpha[, transB]) or MatMul followed by Div/Mul by a scalar constant.</summary>
    private static (Proj Q, Proj K, float Scale)? QueryKey(GraphEditor g, NodeProto node)
    {
        var scale = 1f;
        if (IsOnnx(node, "Div") || IsOnnx(node, "Mul"))
        {
            if (Scalar(g, node.Input[1]) is not { } c || g.ProducerOf(node.Input[0]) is not { } mm) return null;
            scale = IsOnnx(node, "Div") ? 1 / c : c;
            node = mm;
        }
        var transB = false;
        if (node.OpType == "FusedMatMul" && node.Domain == Domain)
        {
            if (GraphEditor.AttrInt(node, "transA", 0) != 0 || GraphEditor.AttrInt(node, "transBatchA", 0) != 0
                || GraphEditor.AttrInt(node, "transBatchB", 0) != 0) return null;
            transB = GraphEditor.AttrInt(node, "transB", 0) == 1;
            scale *= GraphEditor.AttrFloat(node, "alpha", 1);
        }
        else if (!IsOnnx(node, "MatMul")) return null;
        if (Projection(g, node.Input[0], [0, 2, 1, 3]) is not { } q) return null;
        if (Projection(g, node.Input[1], transB ? [0, 2, 1, 3] : [0, 2, 3, 1]) is not { } k) return null;
        return (q, k, scale);
    }

    /// <summary>The Add's score side (a MatMul/FusedMatMul/Div/Mul) and its other input.</summary>
    private static (NodeProto? Qk, string Mask) QkFirst(GraphEditor g, NodeProto add)
    {
        foreach (var (a, b) in new[] { (add.Input[0], add.Input[1]), (add.Input[1], add.Input[0]) })
            if (g.ProducerOf(a) is { } p && (p.OpType is "MatMul" or "FusedMatMul" or "Div" or "Mul") && QueryKey(g, p) is not null)
                return (p, b);
        return (null, "");
    }

    /// <summary>An additive padding mask (1 − Cast(Unsqueeze(Unsqueeze(m))))·c from an integer or bool input m: (m, c).</summary>
    private static (string Source, float Filter)? Mask(GraphEditor g, string tensor)
    {
        if (g.ProducerOf(tensor) is not { } mul || !IsOnnx(mul, "Mul")) return null;
        var c = Scalar(g, mul.Input[1]) ?? Scalar(g, mul.Input[0]);
        var subOut = Scalar(g, mul.Input[1]) is not null ? mul.Input[0] : mul.Input[1];
        if (c is not { } filter || g.ProducerOf(subOut) is not { } sub || !IsOnnx(sub, "Sub") || Scalar(g, sub.Input[0]) != 1f) return null;
        var x = sub.Input[1];
        var unsqueezes = 0;
        while (g.ProducerOf(x) is { } p && (IsOnnx(p, "Cast") || IsOnnx(p, "Unsqueeze")))
        {
            if (p.OpType == "Unsqueeze") unsqueezes++;
            x = p.Input[0];
        }
        // [B, S] → [B, 1, 1, S]: two unsqueezes at axes 1 and 2 (from the graph input, not a computed tensor).
        return unsqueezes == 2 && g.GraphInputs.Contains(x) ? (x, filter) : null;
    }

    private static NodeProto? Single(GraphEditor g, string tensor) =>
        g.ConsumersOf(tensor) is [var only] && !g.GraphOutputs.Contains(tensor) ? only : null;

    private static bool IsOnnx(NodeProto n, string op) => n.OpType == op && n.Domain is "" or "ai.onnx";

    private static bool IsTranspose(NodeProto n, params long[] perm) =>
        IsOnnx(n, "Transpose") && GraphEditor.Attr(n, "perm") is { } p && p.Ints.SequenceEqual(perm);

    private static long[]? Ints(GraphEditor g, string tensor) =>
        g.Initializers.TryGetValue(tensor, out var t) && t.DataType == TensorData.Int64 ? TensorData.ToInt64s(t) : null;

    private static float? Scalar(GraphEditor g, string tensor) =>
        g.Initializers.TryGetValue(tensor, out var t) && TensorData.Count(t) == 1 && t.DataType == TensorData.Float ? TensorData.ToFloats(t)[0] : null;
}
