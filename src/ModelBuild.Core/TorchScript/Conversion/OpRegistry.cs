using ModelBuild.TorchScript.Conversion.Ops;

namespace ModelBuild.TorchScript.Conversion;

/// <summary>Lowers one op call to ONNX nodes; returns the op's result (a tensor, a tuple, a scalar…).</summary>
public delegate object? Lowering(OpCall call);

/// <summary>
/// Maps the qualified names saved code calls (<c>torch.relu</c>, <c>ops.prim.NumToTensor</c>) to lowerings.
/// Each op family registers itself from its own file.
/// </summary>
public sealed class OpRegistry
{
    private readonly Dictionary<string, Lowering> _lowerings = new(StringComparer.Ordinal);

    public void Add(Lowering lowering, params string[] names)
    {
        foreach (var n in names)
        {
            _lowerings[n.Contains('.') ? n : "torch." + n] = lowering;
        }
    }

    public Lowering? Find(string name) => _lowerings.GetValueOrDefault(name);

    public IEnumerable<string> Names => _lowerings.Keys.Order(StringComparer.Ordinal);

    public static OpRegistry CreateDefault()
    {
        var r = new OpRegistry();
        ScalarOps.Register(r);
        ContainerOps.Register(r);
        CreationOps.Register(r);
        ArithmeticOps.Register(r);
        ActivationOps.Register(r);
        ShapeOps.Register(r);
        ReductionOps.Register(r);
        LinearOps.Register(r);
        ConvolutionOps.Register(r);
        NormalizationOps.Register(r);
        PoolingOps.Register(r);
        RecurrentOps.Register(r);
        AttentionOps.Register(r);
        ResizeOps.Register(r);
        PaddingOps.Register(r);
        RearrangeOps.Register(r);
        IndexingOps.Register(r);
        SortingOps.Register(r);
        InPlaceOps.Register(r);
        return r;
    }
}
