using ModelBuild.TorchScript.Conversion;

namespace ModelBuild.Torch;

/// <summary>
/// The extension point for TorchSharp modules whose forward is C# code. ModelBuild cannot read compiled C#, so a
/// module with a custom forward describes it once more, in terms of its submodules and ops, by implementing this
/// interface. Sequential and the standard layers (Linear, Conv2d, BatchNorm2d, …) need nothing.
/// </summary>
/// <example>
/// <code>
/// public sealed class Residual : Module&lt;Tensor, Tensor&gt;, IOnnxExportable
/// {
///     private readonly Linear fc; private readonly LayerNorm norm;
///     public override Tensor forward(Tensor x) => x + functional.gelu(norm.forward(fc.forward(x)));
///     public IReadOnlyList&lt;TensorValue&gt; Export(OnnxExportContext ctx, IReadOnlyList&lt;TensorValue&gt; inputs) =>
///         [ctx.Op("add", inputs[0], ctx.Op("gelu", ctx.Call(norm, ctx.Call(fc, inputs[0]))))];
/// }
/// </code>
/// </example>
public interface IOnnxExportable
{
    /// <summary>Emits this module's forward for <paramref name="inputs"/> (one per tensor argument); returns its outputs in order.</summary>
    IReadOnlyList<TensorValue> Export(OnnxExportContext ctx, IReadOnlyList<TensorValue> inputs);
}
