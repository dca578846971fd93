using ModelBuild.Data;
using ModelBuild.Manifest;

namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>zeros/ones/full: constants when the shape is static, ConstantOfShape when it holds the dynamic batch.</summary>
public static class CreationOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(c => Fill(c, c.Sizes(0, "size"), 0, DType(c.Arg(1, "dtype"))), "zeros");
        r.Add(c => Fill(c, c.Sizes(0, "size"), 1, DType(c.Arg(1, "dtype"))), "ones");
        r.Add(c => Fill(c, c.Sizes(0, "size"), c.Double(1, "fill_value"), DType(c.Arg(2, "dtype"))), "full");
        r.Add(c => Fill(c, c.Tensor(0, "self").Dims, 0, DType(c.Arg(1, "dtype")) ?? c.Tensor(0, "self").Type), "zeros_like");
        r.Add(c => Fill(c, c.Tensor(0, "self").Dims, 1, DType(c.Arg(1, "dtype")) ?? c.Tensor(0, "self").Type), "ones_like");
        r.Add(c => Fill(c, c.Tensor(0, "self").Dims, c.Double(1, "fill_value"), DType(c.Arg(2, "dtype")) ?? c.Tensor(0, "self").Type), "full_like");
    }

    /// <summary>PyTorch's ScalarType codes as saved code writes them (dtype=6 is float32).</summary>
    public static TensorElementType? DType(object? code) => code switch
    {
        null => null,
        OpaqueValue => null,
        _ => ScalarMath.ToLong(code, "dtype") switch
        {
            0 => TensorElementType.UInt8,
            1 => TensorElementType.Int8,
            3 => TensorElementType.Int32,
            4 => TensorElementType.Int64,
            5 => TensorElementType.Float16,
            6 => TensorElementType.Float32,
            7 => TensorElementType.Float64,
            11 => TensorElementType.Bool,
            var other => throw new ConversionError($"unsupported dtype code {other}"),
        },
    };

    public static TensorValue Fill(OpCall c, IReadOnlyList<SymInt> sizes, double value, TensorElementType? dtype)
    {
        var type = dtype ?? TensorElementType.Float32;
        if (sizes.All(s => s.IsKnown))
        {
            var shape = sizes.Select(s => s.Value!.Value).ToArray();
            var count = NdArray.ElementCount(shape);
            var one = GraphBuilder.ScalarArray(value, type);
            var data = Array.CreateInstance(NdArray.ClrType(type), count);
            var v = one.Data.GetValue(0);
            for (long i = 0; i < count; i++) data.SetValue(v, i);
            return c.E.Constant(new NdArray(type, shape, data)) is var t && value == 0 ? new TensorValue(t.Name, t.Type, t.Dims, t.Constant) { IsZeros = true } : t;
        }
        var fill = GraphBuilder.ToTensorProto(new NdArray(type, [1], GraphBuilder.ScalarArray(value, type).Data), "value");
        var node = c.E.Node("ConstantOfShape", [c.G.ShapeTensor(sizes)], type, sizes, Attr.Tensor("value", fill));
        return value == 0 ? new TensorValue(node.Name, node.Type, node.Dims) { IsZeros = true } : node;
    }
}
