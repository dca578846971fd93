using ModelBuild.Manifest;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>linear/addmm/matmul/mm/bmm and embedding. Linear on a 2-D input is one Gemm; on higher ranks the
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
            return c.E.Node("Gemm", [a.Name, b.Name, bias.Name], a.Type, [a.Dims[0], b.Dims[1]], Attr.Float("alpha", alpha), Attr.Float("beta", beta));
        }, "addmm");
        r.Add(c => c.E.MatMul(c.Tensor(0, "self"), c.Tensor(1, "other")), "matmul", "mm", "bmm");
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
}
