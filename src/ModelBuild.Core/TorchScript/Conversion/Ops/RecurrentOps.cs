using ModelBuild.Data;
using ModelBuild.Onnx;

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
    // ONNX gate order differs from PyTorch's: LSTM i,f,g,o → i,o,f,c; GRU r,z,n → z,r,h.
    private static readonly int[] LstmOrder = [0, 3, 1, 2];
    private static readonly int[] GruOrder = [1, 0, 2];

    private static object Lstm(OpCall c) => Rnn(c, "LSTM", 4, LstmOrder);

    private static object Gru(OpCall c) => Rnn(c, "GRU", 3, GruOrder);

    private static object Rnn(OpCall c, string op, int gates, int[] order)
    {
        if (c.Arg(1, "hx") is TensorValue && op == "LSTM" || c.Arg(1, "hx") is TensorValue { Rank: 1 })
            throw c.Unsupported("packed sequences");
        var input = c.Tensor(0, "input");
        var states = op == "LSTM" ? c.TensorList(1, "hx") : [c.Tensor(1, "hx")];
        var weights = c.TensorList(2, "params");
        var hasBiases = c.Bool(3, "has_biases", true);
        var layers = (int)c.Int(4, "num_layers");
        var bidirectional = c.Bool(7, "bidirectional");
        var batchFirst = c.Bool(8, "batch_first");
        var dirs = bidirectional ? 2 : 1;
        var perDir = hasBiases ? 4 : 2;
        if (weights.Count != layers * dirs * perDir)
            throw c.Unsupported($"{weights.Count} weights for {layers} layer(s) (projections are not supported)");
        var e = c.E;
        var x = batchFirst ? e.Transpose(input, [1, 0, 2]) : input;
        var hidden = weights[1].Dims[1].Value!.Value;
        var hOut = new List<TensorValue>();
        var cOut = new List<TensorValue>();
        for (var layer = 0; layer < layers; layer++)
        {
            var w = new List<NdArray>();
            var r = new List<NdArray>();
            var b = new List<NdArray>();
            for (var d = 0; d < dirs; d++)
            {
                var k = (layer * dirs + d) * perDir;
                w.Add(Reorder(c, weights[k], gates, order));
                r.Add(Reorder(c, weights[k + 1], gates, order));
                b.Add(hasBiases
                    ? Concat(Reorder(c, weights[k + 2], gates, order), Reorder(c, weights[k + 3], gates, order))
                    : new NdArray(TensorElementType.Float32, [2 * gates * hidden], new float[2 * gates * hidden]));
            }
            var inputs = new List<string>
            {
                x.Name, e.Constant(Stack(w)).Name, e.Constant(Stack(r)).Name, e.Constant(Stack(b)).Name, "",
            };
            foreach (var s in states)
                inputs.Add(s.IsZeros ? "" : e.Slice(s, 0, layer * dirs, (layer + 1) * dirs).Name);
            while (inputs[^1] == "") inputs.RemoveAt(inputs.Count - 1);
            var attrs = new List<global::Onnx.AttributeProto>
            {
                Attr.Int("hidden_size", hidden), Attr.String("direction", bidirectional ? "bidirectional" : "forward"),
            };
            if (op == "GRU") attrs.Add(Attr.Int("linear_before_reset", 1));
            var outs = c.G.Node(op, inputs, op == "LSTM" ? 3 : 2, attrs, op.ToLowerInvariant());
            var y = new TensorValue(outs[0], x.Type, [x.Dims[0], SymInt.Of(dirs), x.Dims[1], SymInt.Of(hidden)]);
            hOut.Add(new TensorValue(outs[1], x.Type, [SymInt.Of(dirs), x.Dims[1], SymInt.Of(hidden)]));
            if (op == "LSTM") cOut.Add(new TensorValue(outs[2], x.Type, [SymInt.Of(dirs), x.Dims[1], SymInt.Of(hidden)]));
            // [S, dirs, B, H] → [S, B, dirs·H] for the next layer and the output.
            var merged = e.Transpose(y, [0, 2, 1, 3]);
            x = e.Reshape(merged, [merged.Dims[0], merged.Dims[1], SymInt.Of(dirs * hidden)]);
        }
        var output = batchFirst ? e.Transpose(x, [1, 0, 2]) : x;
        var hN = e.Concat(hOut, 0);
        return op == "LSTM" ? new TupleValue([output, hN, e.Concat(cOut, 0)]) : new TupleValue([output, hN]);
    }

    private static NdArray Reorder(OpCall c, TensorValue t, int gates, int[] order)
    {
        var data = t.Constant?.Data as float[] ?? throw c.Unsupported("RNN weights that are not float32 constants");
        var rows = t.Dims[0].Value!.Value;
        var cols = t.Rank == 2 ? t.Dims[1].Value!.Value : 1;
        var block = rows / gates * cols;
        var result = new float[data.Length];
        for (var g = 0; g < gates; g++)
            Array.Copy(data, order[g] * block, result, g * block, block);
        return new NdArray(TensorElementType.Float32, t.Constant!.Shape, result);
    }

    private static NdArray Concat(NdArray a, NdArray b) =>
        new(TensorElementType.Float32, [a.Length + b.Length], a.As<float>().Concat(b.As<float>()).ToArray());

    private static NdArray Stack(List<NdArray> parts) =>
        new(TensorElementType.Float32, [parts.Count, .. parts[0].Shape], parts.SelectMany(p => p.As<float>()).ToArray());
}
