using ModelBuild.Torch;
using ModelBuild.TorchScript.Conversion;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ModelBuild.TorchSharpFixtures;

/// <summary>A plain Sequential MLP: the factory shape (public static Create()).</summary>
public static class Mlp
{
    public static Module<Tensor, Tensor> Create() => Sequential(
        ("fc1", Linear(16, 32)), ("bn", BatchNorm1d(32)), ("relu", ReLU()), ("drop", Dropout(0.2)),
        ("fc2", Linear(32, 32)), ("norm", LayerNorm(32)), ("gelu", GELU()),
        ("fc3", Linear(32, 24)), ("silu", SiLU()), ("fc4", Linear(24, 10)), ("softmax", Softmax(1)));
}

/// <summary>A small CNN as a Sequential, with nested Sequential blocks.</summary>
public static class Cnn
{
    public static Module<Tensor, Tensor> Create() => Sequential(
        ("stem", Sequential(("conv", Conv2d(1, 8, 3, padding: 1)), ("bn", BatchNorm2d(8)), ("act", ReLU6()))),
        ("pool", MaxPool2d(2)),
        ("conv2", Conv2d(8, 16, 3, padding: TorchSharp.Padding.Same)), ("hswish", Hardswish()),
        ("avg", AvgPool2d(2)),
        ("dw", Conv2d(16, 16, 3, padding: 1, groups: 16)), ("bn2", BatchNorm2d(16)), ("tanh", Tanh()),
        ("gap", AdaptiveAvgPool2d(1)), ("flatten", Flatten()), ("drop", Dropout(0.5)),
        ("fc", Linear(16, 10)), ("logsoftmax", LogSoftmax(1)));
}

/// <summary>
/// Custom forward (embedding → Conv1d → 2-layer LSTM → bidirectional GRU → last step → LayerNorm → Linear →
/// Sigmoid), so it implements IOnnxExportable with the same computation.
/// </summary>
public sealed class TextClassifier : Module<Tensor, Tensor>, IOnnxExportable
{
    private readonly Embedding embed = Embedding(50, 16);
    private readonly Conv1d conv = Conv1d(16, 16, 3, padding: 1);
    private readonly LSTM lstm = LSTM(16, 24, numLayers: 2, batchFirst: true);
    private readonly GRU gru = GRU(24, 12, bidirectional: true, batchFirst: true);
    private readonly LayerNorm norm = LayerNorm(24);
    private readonly Linear head = Linear(24, 5);

    public TextClassifier() : base(nameof(TextClassifier)) => RegisterComponents();

    public override Tensor forward(Tensor tokens)
    {
        var x = embed.forward(tokens).transpose(1, 2);
        x = functional.relu(conv.forward(x)).transpose(1, 2);
        var (seq, _, _) = lstm.forward(x);
        var (both, _) = gru.forward(seq);
        var last = both.select(1, -1);
        return functional.sigmoid(head.forward(norm.forward(last)));
    }

    public IReadOnlyList<TensorValue> Export(OnnxExportContext ctx, IReadOnlyList<TensorValue> inputs)
    {
        var x = ctx.Op("transpose", ctx.Call(embed, inputs[0]), 1, 2);
        x = ctx.Op("transpose", ctx.Op("relu", ctx.Call(conv, x)), 1, 2);
        var seq = ctx.CallAll(lstm, x)[0];
        var both = ctx.CallAll(gru, seq)[0];
        var last = ctx.Op("select", both, 1, -1);
        return [ctx.Op("sigmoid", ctx.Call(head, ctx.Call(norm, last)))];
    }
}

/// <summary>A custom forward without IOnnxExportable: export must refuse it by name.</summary>
public sealed class Opaque : Module<Tensor, Tensor>
{
    private readonly Linear fc = Linear(4, 4);

    public Opaque() : base(nameof(Opaque)) => RegisterComponents();

    public override Tensor forward(Tensor x) => fc.forward(x) * 2;
}

/// <summary>A Sequential that holds the opaque module: the message must name where it sits.</summary>
public static class WithOpaque
{
    public static Module<Tensor, Tensor> Create() => Sequential(("fc", Linear(4, 4)), ("inner", new Opaque()));
}

/// <summary>
/// MultiheadAttention keeps its head count in native code, so its owner exports it through the converter's fused
/// attention lowering with the head count it knows.
/// </summary>
public sealed class Attender : Module<Tensor, Tensor>, IOnnxExportable
{
    private const long Embed = 16, Heads = 4;
    private readonly Linear proj = Linear(8, Embed);
    private readonly MultiheadAttention attention = MultiheadAttention(Embed, Heads);
    private readonly Linear head = Linear(Embed, 3);

    public Attender() : base(nameof(Attender)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        var h = proj.forward(x).transpose(0, 1); // TorchSharp's attention is sequence-first
        var (a, _) = attention.forward(h, h, h, null, false, null);
        return head.forward(a.transpose(0, 1).mean([1]));
    }

    public IReadOnlyList<TensorValue> Export(OnnxExportContext ctx, IReadOnlyList<TensorValue> inputs)
    {
        var h = ctx.Call(proj, inputs[0]); // batch-first already, as the fused lowering wants
        var p = attention.named_parameters().ToDictionary(n => n.name, n => n.parameter);
        var result = (TupleValue)ctx.Invoke("_native_multi_head_attention", h, h, h, Embed, Heads,
            p["in_proj_weight"], p["in_proj_bias"], p["out_proj.weight"], p["out_proj.bias"], null, false, true)!;
        var a = (TensorValue)result.Items[0]!;
        return [ctx.Call(head, ctx.Op("mean", a, new long[] { 1 }, false))];
    }
}
