using ModelBuild.Passes.Quantization;
using Onnx;

namespace ModelBuild.Passes;

/// <summary>What the static and dynamic passes do with a latency-aware selection: record its notes and float nodes,
/// and when no int8 model beat the parent, write the parent unchanged with a warning.</summary>
internal static class LatencyAwareOutcome
{
    /// <returns>The model to write, or null when the parent was written as the variant.</returns>
    public static ModelProto? Apply(LatencyAwareSelection.Outcome selection, PassContext context, string mode)
    {
        context.Outcome.Notes.AddRange(selection.Notes);
        context.Outcome.KeptFloat.AddRange(selection.KeptFloat);
        if (selection.Model is not null) return selection.Model;
        context.Outcome.Warnings.Add($"quantize: {mode} int8 ran slower than its parent on this machine even with the slow nodes kept " +
            "in float, so the variant is its parent unchanged (latency-aware; quantize.latency_aware: false keeps the int8 model)");
        File.Copy(context.InputPath, context.OutputPath, overwrite: true);
        return null;
    }
}
