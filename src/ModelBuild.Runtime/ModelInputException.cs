namespace ModelBuild.Runtime;

/// <summary>Inputs that do not fit the model: a missing or unknown name, a wrong element type or shape.</summary>
public sealed class ModelInputException(string message) : ArgumentException(message);
