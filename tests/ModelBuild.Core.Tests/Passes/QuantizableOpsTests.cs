using ModelBuild.Manifest;
using ModelBuild.Passes.Quantization;

namespace ModelBuild.Core.Tests.Passes;

/// <summary>The op types quantize.ops accepts are exactly the ones the quantizer registries implement.</summary>
public sealed class QuantizableOpsTests
{
    [Fact]
    public void The_manifest_vocabulary_matches_the_quantizer_registries()
    {
        Assert.Equal(OpQuantizerRegistry.OpTypes.Order(StringComparer.Ordinal), QuantizableOps.For(QuantizeMode.Static).Order(StringComparer.Ordinal));
        Assert.Equal(DynamicOpQuantizerRegistry.OpTypes.Append("Gather").Order(StringComparer.Ordinal),
            QuantizableOps.For(QuantizeMode.Dynamic).Order(StringComparer.Ordinal));
    }
}
