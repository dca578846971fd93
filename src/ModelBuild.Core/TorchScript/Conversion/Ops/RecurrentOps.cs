namespace ModelBuild.TorchScript.Conversion.Ops;

/// <summary>aten::lstm / aten::gru with flat weights → ONNX LSTM / GRU, one node per layer.</summary>
public static partial class RecurrentOps
{
    public static void Register(OpRegistry r)
    {
        r.Add(Lstm, "lstm");
        r.Add(Gru, "gru");
    }
}

public static partial class RecurrentOps
{
    private static object Lstm(OpCall c) => throw c.Unsupported("not yet");
    private static object Gru(OpCall c) => throw c.Unsupported("not yet");
}
