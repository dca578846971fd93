namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>The fused transformer fast paths PyTorch takes in eval mode (_transformer_encoder_layer_fwd,
/// _native_multi_head_attention), spelled out as MatMul/Softmax/LayerNorm.</summary>
public static partial class AttentionOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(EncoderLayer, "_transformer_encoder_layer_fwd");
        r.Add(NativeMha, "_native_multi_head_attention");
    }
}

public static partial class AttentionOps
{
    private static object EncoderLayer(OpCall c) => throw c.Unsupported("not yet");
    private static object NativeMha(OpCall c) => throw c.Unsupported("not yet");
}
