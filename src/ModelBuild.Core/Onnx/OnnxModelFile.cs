using Google.Protobuf;
using ModelBuild.Diagnostics;
using Onnx;

namespace ModelBuild.Onnx;

/// <summary>Reads and writes ONNX model files (protobuf <c>ModelProto</c>), turning every failure into an MB diagnostic.</summary>
public static class OnnxModelFile
{
    /// <summary>Protobuf refuses messages over 2 GB; models that large keep weights as external data.</summary>
    private const long MaxModelBytes = int.MaxValue;

    public static ModelProto Load(string path, SourceLocation? location = null)
    {
        location ??= new SourceLocation(path);
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new ModelBuildException(DiagnosticCodes.FileNotFound, $"model file '{path}' does not exist", location);
        if (info.Length == 0)
            throw new ModelBuildException(DiagnosticCodes.ModelUnreadable, $"'{path}' is empty, not an ONNX model", location);
        if (info.Length > MaxModelBytes)
            throw new ModelBuildException(DiagnosticCodes.ModelUnreadable,
                $"'{path}' is {info.Length} bytes; ONNX files over 2 GB must keep weights as external data", location);

        var bytes = File.ReadAllBytes(path);
        return Parse(bytes, path, location);
    }

    public static ModelProto Parse(byte[] bytes, string displayName, SourceLocation location)
    {
        try
        {
            var parser = new MessageParser<ModelProto>(() => new ModelProto()).WithDiscardUnknownFields(false);
            var model = parser.ParseFrom(CodedInputStream.CreateWithLimits(new MemoryStream(bytes), int.MaxValue, 200));
            if (model.Graph is null || model.IrVersion <= 0)
                throw new ModelBuildException(DiagnosticCodes.ModelUnreadable,
                    $"'{displayName}' is not an ONNX model (no graph or ir_version)", location);
            return model;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelBuildException(DiagnosticCodes.ModelUnreadable,
                $"'{displayName}' is not a readable ONNX model: {e.Message}", location, e);
        }
    }

    public static byte[] Serialize(ModelProto model) => model.ToByteArray();
}
