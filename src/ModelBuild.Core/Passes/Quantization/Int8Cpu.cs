using System.Runtime.Intrinsics.X86;

namespace ModelBuild.Passes.Quantization;

/// <summary>
/// What the building machine's CPU offers int8 kernels. Without VNNI, x86 int8 kernels (ONNX Runtime's U8S8 on
/// AVX2/AVX-512BW) add pairs of uint8·int8 products in 16 bits (vpmaddubsw), which saturates with full 8-bit weights:
/// that is what <c>reduce_range</c> (7-bit weights) avoids. With VNNI (vpdpbusd) the products accumulate in 32 bits,
/// and 7-bit weights only cost precision. Non-x86 CPUs (Arm's sdot/i8mm) do not saturate either.
/// </summary>
public static class Int8Cpu
{
    /// <summary>AVX-VNNI or AVX512-VNNI, as .NET's intrinsics report them.</summary>
    public static bool HasVnni { get; } = AvxVnni.IsSupported || Avx512Vnni();

    /// <summary>True where 8-bit weights may saturate: an x86 CPU without VNNI.</summary>
    public static bool NeedsReducedRange { get; } = X86Base.IsSupported && !HasVnni;

    private static bool Avx512Vnni()
    {
        if (!X86Base.IsSupported) return false;
        // CPUID leaf 7, subleaf 0: ECX bit 11 is AVX512_VNNI (.NET has no IsSupported for it on its own).
        var (_, _, ecx, _) = X86Base.CpuId(7, 0);
        return (ecx & (1 << 11)) != 0 && Avx512BW.IsSupported;
    }
}
