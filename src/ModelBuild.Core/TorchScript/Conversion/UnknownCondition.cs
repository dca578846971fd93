namespace ModelBuild.TorchScript.Conversion;

/// <summary>
/// A comparison whose answer is known only at run time (<c>size[0] == 1</c> on the dynamic batch). It cannot steer
/// control flow, with one exception the interpreter makes: an <c>if</c> one of whose branches only raises (an input
/// check such as BatchNorm's "expected more than 1 value per channel") takes the other branch, since ONNX cannot
/// raise and the model is only defined where it does not. Anywhere else it fails with <see cref="Why"/>.
/// </summary>
public sealed record UnknownCondition(string Why);
