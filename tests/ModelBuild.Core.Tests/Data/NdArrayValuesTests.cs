using ModelBuild.Data;
using ModelBuild.Onnx;

namespace ModelBuild.Core.Tests.Data;

/// <summary>int8 and uint8 arrays read as their own values (.NET lets sbyte[] pass as byte[], and back).</summary>
public sealed class NdArrayValuesTests
{
    [Fact]
    public void Int8_values_stay_signed_and_uint8_values_unsigned()
    {
        Assert.Equal(new double[] { -3, 5, -128 }, new NdArray(TensorElementType.Int8, [3], new sbyte[] { -3, 5, -128 }).ToDoubles());
        Assert.Equal(new double[] { 253, 5, 128 }, new NdArray(TensorElementType.UInt8, [3], new byte[] { 253, 5, 128 }).ToDoubles());
    }
}
