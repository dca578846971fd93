namespace ModelBuild.Onnx;

/// <summary>
/// Which inputs carry the batch. The batch is a dynamic first axis; an input whose first axis is fixed or that has
/// none (a recurrent state [2, batch, 64], a sample rate scalar) is not batched on axis 0 when other inputs are: it
/// is fed whole, the same tensor with every batch. When such an input has a dynamic axis of its own (the state's
/// batch), batches hold one sample each, so that axis is 1 like the state it was generated with.
/// A model with no dynamic first axis at all keeps its fixed batch (every input is sliced in batches of that size).
/// </summary>
public sealed record BatchLayout(IReadOnlySet<string> Whole, bool SampleBySample)
{
    public static BatchLayout Of(IReadOnlyList<TensorInfo> inputs)
    {
        if (inputs.All(i => i.HasDynamicBatch) || !inputs.Any(i => i.HasDynamicBatch))
            return new BatchLayout(new HashSet<string>(StringComparer.Ordinal), false);
        var whole = inputs.Where(i => !i.HasDynamicBatch).ToList();
        return new BatchLayout(whole.Select(i => i.Name).ToHashSet(StringComparer.Ordinal), whole.Any(i => i.Dims.Any(d => d.IsDynamic)));
    }

    public bool IsWhole(string input) => Whole.Contains(input);
}
