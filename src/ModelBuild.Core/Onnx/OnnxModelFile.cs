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
        if (!File.Exists(path))
            throw new ModelBuildException(DiagnosticCodes.FileNotFound, $"model file '{path}' does not exist", location);
        byte[] bytes;
        try
        {
            // The size comes from the opened file, not the path: through a symbolic link FileInfo reports the link's
            // own length, and a link to /dev/zero would then be read forever.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var length = stream.Length;
            if (length == 0)
                throw new ModelBuildException(DiagnosticCodes.ModelUnreadable, $"'{path}' is empty (or not a regular file), not an ONNX model",
                    location);
            if (length > MaxModelBytes)
                throw new ModelBuildException(DiagnosticCodes.ModelUnreadable,
                    $"'{path}' is {length} bytes; ONNX files over 2 GB must keep weights as external data", location);
            bytes = new byte[length];
            stream.ReadExactly(bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A symbolic-link loop, a permission, a file that shrank while read.
            throw new ModelBuildException(DiagnosticCodes.ModelUnreadable, $"'{path}' cannot be read: {e.Message}", location, e);
        }
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
