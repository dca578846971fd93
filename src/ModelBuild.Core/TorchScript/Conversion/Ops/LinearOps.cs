namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>linear/addmm/baddbmm/matmul/mm/bmm, einsum and embedding. Linear on a 2-D input is one Gemm; on higher ranks the
/// weight is transposed once at conversion time and used by MatMul.</summary>
public static class LinearOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Linear(c, c.Tensor(0, "input"), c.Tensor(1, "weight"), c.OptionalTensor(2, "bias")), "linear");
        r.Add(c =>
        {
            var bias = c.Tensor(0, "self");
            var a = c.Tensor(1, "mat1");
            var b = c.Tensor(2, "mat2");
            var beta = c.Double(3, "beta", 1);
            var alpha = c.Double(4, "alpha", 1);
            return c.E.Node("Gemm", [a.Name, b.Name, bias.Name], a.Type, [a.Dims[0], b.Dims[1]],
                Attr.Float("alpha", alpha), Attr.Float("beta", beta));
        }, "addmm");
        r.Add(c => c.E.MatMul(c.Tensor(0, "self"), c.Tensor(1, "other")), "matmul", "mm", "bmm");
        r.Add(c =>
        {
            // beta·self + alpha·(batch1 @ batch2)
            var product = c.E.MatMul(c.Tensor(1, "batch1"), c.Tensor(2, "batch2"));
            var alpha = c.Double(4, "alpha", 1);
            var beta = c.Double(3, "beta", 1);
            if (alpha != 1) product = c.E.Binary("Mul", product, alpha);
            var self = c.Tensor(0, "self");
            if (beta == 0) return product;
            return c.E.Binary("Add", beta == 1 ? self : c.E.Binary("Mul", self, beta), product);
        }, "baddbmm");
        r.Add(Einsum, "einsum");
        r.Add(c =>
        {
            var weight = c.Tensor(0, "weight");
            var indices = c.Tensor(1, "indices");
            var dims = indices.Dims.Concat(weight.Dims.Skip(1)).ToArray();
            return c.E.Node("Gather", [weight.Name, indices.Name], weight.Type, dims, Attr.Int("axis", 0));
        }, "embedding");
    }

    public static TensorValue Linear(OpCall c, TensorValue x, TensorValue weight, TensorValue? bias)
    {
        var outDims = x.Dims.Take(x.Rank - 1).Append(weight.Dims[0]).ToArray();
        if (x.Rank == 2)
        {
            var inputs = new List<string> { x.Name, weight.Name };
            if (bias is not null) inputs.Add(bias.Name);
            return c.E.Node("Gemm", inputs, x.Type, outDims, Attr.Int("transB", 1));
        }
        var y = c.E.MatMul(x, c.E.Transpose2D(weight));
        return bias is null ? y : c.E.Binary("Add", y, bias);
    }

    /// <summary>einsum → ONNX Einsum, with the result's shape worked out from the equation (ellipsis included).</summary>
    private static object Einsum(OpCall c)
    {
        var equation = (c.String(0, "equation") ?? throw c.Unsupported("einsum without an equation")).Replace(" ", "");
        var operands = c.TensorList(1, "tensors");
        var arrow = equation.IndexOf("->", StringComparison.Ordinal);
        var inputs = (arrow < 0 ? equation : equation[..arrow]).Split(',');
        if (inputs.Length != operands.Count) throw c.Unsupported($"equation '{equation}' for {operands.Count} operands");
        var sizes = new Dictionary<char, SymInt>();
        IReadOnlyList<SymInt> ellipsis = [];
        for (var k = 0; k < inputs.Length; k++)
        {
            var term = inputs[k];
            var t = operands[k];
            var dots = term.IndexOf("...", StringComparison.Ordinal);
            var letters = term.Replace("...", "");
            var ellipsisRank = t.Rank - letters.Length;
            if (ellipsisRank < 0 || (dots < 0 && ellipsisRank != 0)) throw c.Unsupported($"'{term}' for a rank-{t.Rank} operand");
            var axis = 0;
            for (var i = 0; i < term.Length; i++)
            {
                if (i == dots)
                {
                    ellipsis = Emitter.Broadcast(ellipsis, t.Dims.Skip(axis).Take(ellipsisRank).ToArray()).Select(d => d!).ToArray();
                    axis += ellipsisRank;
                    i += 2;
                    continue;
                }
                var d = t.Dims[axis++];
                if (!sizes.TryGetValue(term[i], out var known) || known.IsKnown && known.Value == 1) sizes[term[i]] = d;
            }
        }
        var output = arrow >= 0 ? equation[(arrow + 2)..]
            : (equation.Contains("...") ? "..." : "") +
                new string(sizes.Keys.Where(ch => inputs.Sum(s => s.Count(x => x == ch)) == 1).Order().ToArray());
        var dims = new List<SymInt>();
        for (var i = 0; i < output.Length; i++)
        {
            if (output[i] == '.') { dims.AddRange(ellipsis); i += 2; continue; }
            dims.Add(sizes.TryGetValue(output[i], out var d) ? d : throw c.Unsupported($"output letter '{output[i]}' of '{equation}'"));
        }
        var type = operands[0].Type;
        return c.E.Node("Einsum", operands.Select(o => c.E.Cast(o, type).Name).ToArray(), type, dims,
            Attr.String("equation", arrow >= 0 ? equation : equation + "->" + output));
    }
}
