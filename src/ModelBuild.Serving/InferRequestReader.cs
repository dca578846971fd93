using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>An output the client asked for, and whether it wants it as binary tensor data (null: as the request's default).</summary>
public sealed record RequestedOutput(string Name, bool? Binary);

/// <summary>
/// A parsed KServe v2 inference request. <paramref name="RequestedOutputs"/> null means all outputs, each binary
/// when <paramref name="BinaryByDefault"/> (request parameter <c>binary_data_output</c>).
/// </summary>
public sealed record InferRequest(string? Id, IReadOnlyList<ModelTensor> Inputs, IReadOnlyList<RequestedOutput>? RequestedOutputs,
    bool BinaryByDefault = false);

/// <summary>
/// Reads a KServe v2 inference request: <c>{"id", "inputs": [{"name", "shape", "datatype", "data"}], "outputs":
/// [{"name"}]}</c>, with <c>data</c> flat or nested (row-major), or the binary tensor data extension (an input's
/// <c>parameters.binary_data_size</c> bytes follow the JSON, whose length the Inference-Header-Content-Length header
/// gives). Numbers go from UTF-8 straight into the typed array (no DOM): this is most of a request's cost.
/// Every problem is a <see cref="RequestException"/> naming the field, so clients see what to fix.
/// </summary>
public static class InferRequestReader
{
    private static readonly JsonReaderOptions Options = new() { MaxDepth = 64 };

    /// <param name="json">The JSON part of the body.</param>
    /// <param name="binary">The bytes after the JSON (empty without the binary extension).</param>
    /// <param name="model">The model whose inputs are checked.</param>
    /// <param name="bodyBytes">The body size: element counts are bounded by it before anything is allocated.</param>
    public static InferRequest Read(ReadOnlySpan<byte> json, ReadOnlySpan<byte> binary, DeployedModel model, long bodyBytes)
    {
        var reader = new Utf8JsonReader(json, Options);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw Bad("the request body must be a JSON object");
        string? id = null;
        List<ModelTensor>? tensors = null;
        List<RequestedOutput>? outputs = null;
        var binaryByDefault = false;
        var binaryOffset = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                id = reader.TokenType == JsonTokenType.String ? String(ref reader, "'id'") : throw Bad("'id' must be a string");
            }
            else if (reader.ValueTextEquals("inputs"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray) throw Bad("'inputs' must be a non-empty array of {name, shape, datatype, data}");
                tensors = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    tensors.Add(ReadTensor(ref reader, json, binary, ref binaryOffset, model, bodyBytes));
            }
            else if (reader.ValueTextEquals("outputs"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray) throw Bad("'outputs' must be an array of {name}");
                outputs = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    outputs.Add(ReadOutput(ref reader, model));
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                binaryByDefault = ReadBinaryFlag(ref reader, "binary_data_output"u8) ?? false;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        // Reading to the end makes the reader reject trailing or truncated JSON.
        while (reader.Read()) { }
        if (tensors is null || tensors.Count == 0) throw Bad("'inputs' must be a non-empty array of {name, shape, datatype, data}");
        // Like an absent list, an empty one asks for every output (Triton reads it the same way).
        if (outputs is { Count: 0 }) outputs = null;
        if (binaryOffset != binary.Length)
            throw Bad($"the body has {binary.Length} bytes after the JSON header but the inputs' binary_data_size add up to {binaryOffset}");
        return new InferRequest(id, tensors, outputs, binaryByDefault);
    }

    private static RequestedOutput ReadOutput(ref Utf8JsonReader reader, DeployedModel model)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw Bad("each of 'outputs' must be an object with a string 'name'");
        string? name = null;
        bool? binary = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                name = reader.TokenType == JsonTokenType.String ? String(ref reader, "an output's 'name'") : null;
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                binary = ReadBinaryFlag(ref reader, "binary_data"u8);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (name is null) throw Bad("each of 'outputs' must be an object with a string 'name'");
        if (model.Outputs.All(s => s.Name != name))
            throw Bad($"model '{model.Name}' has no output '{name}'; its outputs are {string.Join(", ", model.Outputs.Select(s => s.Name))}");
        return new RequestedOutput(name, binary);
    }

    /// <summary>Reads a parameters object; returns the boolean <paramref name="flag"/> if present.</summary>
    private static bool? ReadBinaryFlag(ref Utf8JsonReader reader, ReadOnlySpan<byte> flag)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw Bad("'parameters' must be an object");
        bool? value = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var match = reader.ValueTextEquals(flag);
            reader.Read();
            if (match && reader.TokenType is JsonTokenType.True or JsonTokenType.False) value = reader.GetBoolean();
            else reader.Skip();
        }
        return value;
    }

    private static ModelTensor ReadTensor(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, ReadOnlySpan<byte> binary, ref int binaryOffset,
        DeployedModel model, long bodyBytes)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw Bad("each of 'inputs' must be an object {name, shape, datatype, data}");
        string? name = null, datatype = null;
        List<long>? shapeList = null;
        long? binarySize = null;
        Array? array = null;
        var filled = 0;
        var dataStart = -1L;
        var dataEnd = -1L;
        Checked? spec = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                name = reader.TokenType == JsonTokenType.String
                    ? String(ref reader, "an input's 'name'")
                    : throw Bad("an input has no string 'name'");
            }
            else if (reader.ValueTextEquals("datatype"u8))
            {
                reader.Read();
                datatype = reader.TokenType == JsonTokenType.String ? String(ref reader, $"input '{name ?? "?"}' 'datatype'") : "";
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                reader.Read();
                shapeList = [];
                if (reader.TokenType != JsonTokenType.StartArray) { shapeList = null; reader.Skip(); continue; }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var v) || v < 0)
                        throw Bad($"input '{name ?? "?"}' has an invalid shape: dimensions must be non-negative integers");
                    shapeList.Add(v);
                }
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject) throw Bad("'parameters' must be an object");
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isSize = reader.ValueTextEquals("binary_data_size"u8);
                    reader.Read();
                    if (isSize)
                        binarySize = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var s) && s >= 0
                            ? s : throw Bad("'binary_data_size' must be a non-negative integer");
                    else reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray) throw Bad($"input '{name}' has no 'data' array");
                if (name is not null && datatype is not null && shapeList is not null)
                {
                    // The usual order (name, shape, datatype, data): parse straight into the tensor.
                    spec = Check(name, datatype, shapeList, model, bodyBytes);
                    array = TensorTypes.NewArray(spec.Type, (int)spec.Count);
                    Fill(ref reader, array, spec.Type, ref filled, name, 0);
                }
                else
                {
                    // 'data' came first: remember where, parse once the shape and datatype are known.
                    dataStart = reader.TokenStartIndex;
                    reader.Skip();
                    dataEnd = reader.BytesConsumed;
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (name is null) throw Bad("an input has no string 'name'");
        spec ??= Check(name, datatype, shapeList, model, bodyBytes);
        if (binarySize is { } size)
        {
            if (array is not null || dataStart >= 0) throw Bad($"input '{name}' has both 'data' and 'binary_data_size'");
            var expected = spec.Count * TensorTypes.ElementSize(spec.Type);
            if (size != expected)
                throw Bad($"input '{name}' has binary_data_size {size}, but shape [{string.Join(",", spec.Shape)}] of " +
                    $"{KServeTypes.Name(spec.Type)} needs {expected} bytes");
            if (binary.Length - binaryOffset < size)
                throw Bad(binary.Length == 0
                    ? $"input '{name}' has binary_data_size but the request has no Inference-Header-Content-Length " +
                        $"header (or no bytes after the JSON)"
                    : $"input '{name}' needs {size} bytes of binary data but only {binary.Length - binaryOffset} remain after the JSON header");
            array = TensorTypes.NewArray(spec.Type, (int)spec.Count);
            var source = binary.Slice(binaryOffset, (int)size);
            if (spec.Type == TensorType.Bool && source.ContainsAnyExcept((byte)0, (byte)1))
                throw Bad($"input '{name}' has BOOL binary data with bytes other than 0 and 1");
            // Little-endian, no padding: the wire bytes are the array's bytes (x64 and arm64 are little-endian).
            source.CopyTo(MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(array), (int)size));
            binaryOffset += (int)size;
            return new ModelTensor(name, array, spec.Shape);
        }
        if (array is null)
        {
            if (dataStart < 0) throw Bad($"input '{name}' has no 'data' array");
            array = TensorTypes.NewArray(spec.Type, (int)spec.Count);
            var data = new Utf8JsonReader(json[(int)dataStart..(int)dataEnd], Options);
            data.Read();
            Fill(ref data, array, spec.Type, ref filled, name, 0);
        }
        if (filled != spec.Count)
            throw Bad($"input '{name}' has {filled} data elements, but shape [{string.Join(",", spec.Shape)}] needs {spec.Count}");
        return new ModelTensor(name, array, spec.Shape);
    }

    private sealed record Checked(TensorType Type, long[] Shape, long Count);

    private static Checked Check(string name, string? datatype, List<long>? shapeList, DeployedModel model, long bodyBytes)
    {
        var spec = model.Input(name)
            ?? throw Bad($"model '{model.Name}' has no input '{name}'; its inputs are {string.Join(", ", model.Inputs.Select(i => i.Name))}");
        if (datatype is null) throw Bad($"input '{name}' has no string 'datatype' (expected {KServeTypes.Name(spec.Type)})");
        var type = KServeTypes.Parse(datatype)
            ?? throw Bad($"input '{name}' has datatype '{datatype}', which this server does not support (expected {KServeTypes.Name(spec.Type)})");
        if (type != spec.Type)
            throw Bad($"input '{name}' has datatype {KServeTypes.Name(type)}, but model '{model.Name}' expects {KServeTypes.Name(spec.Type)}");
        if (shapeList is null) throw Bad($"input '{name}' has no 'shape' array (expected {spec.ShapeText})");
        var shape = shapeList.ToArray();
        long count = 1;
        foreach (var v in shape)
            // Each element takes at least one byte of the body, so a bigger count cannot match the data.
            count = v == 0 ? 0 : count > bodyBytes / v ? bodyBytes + 1 : count * v;
        if (!spec.Accepts(shape))
            throw Bad($"input '{name}' has shape [{string.Join(",", shape)}], but model '{model.Name}' expects {spec.ShapeText}");
        if (count > bodyBytes)
            throw Bad($"input '{name}' has shape [{string.Join(",", shape)}] but the request is too small to hold that much data");
        return new Checked(type, shape, count);
    }

    private static void Fill(ref Utf8JsonReader reader, Array target, TensorType type, ref int index, string name, int depth)
    {
        if (depth > 32) throw Bad($"input '{name}' has data nested too deep");
        // FP32 is nearly every request: a loop without the per-element type switch.
        if (target is float[] floats)
        {
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndArray) return;
                if (reader.TokenType == JsonTokenType.StartArray) { Fill(ref reader, target, type, ref index, name, depth + 1); continue; }
                if (index < floats.Length)
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetSingle(out floats[index]))
                        throw Invalid(ref reader, type, name, index);
                }
                index++;
            }
            return;
        }
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndArray) return;
            if (reader.TokenType == JsonTokenType.StartArray) { Fill(ref reader, target, type, ref index, name, depth + 1); continue; }
            if (index < target.Length && !Store(ref reader, target, type, index)) throw Invalid(ref reader, type, name, index);
            index++;
        }
    }

    private static RequestException Invalid(ref Utf8JsonReader reader, TensorType type, string name, int index) =>
        Bad($"input '{name}' data element {index} ({Encoding.UTF8.GetString(reader.ValueSpan)}) is not a valid {KServeTypes.Name(type)} value");

    private static bool Store(ref Utf8JsonReader reader, Array target, TensorType type, int i)
    {
        if (type == TensorType.Bool)
        {
            if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False)) return false;
            ((bool[])target)[i] = reader.GetBoolean();
            return true;
        }
        if (reader.TokenType != JsonTokenType.Number) return false;
        switch (type)
        {
            case TensorType.Float64: return reader.TryGetDouble(out ((double[])target)[i]);
            case TensorType.Float16: if (!reader.TryGetDouble(out var h)) return false; ((Half[])target)[i] = (Half)h; return true;
            case TensorType.Int64: return reader.TryGetInt64(out ((long[])target)[i]);
            case TensorType.Int32: return reader.TryGetInt32(out ((int[])target)[i]);
            case TensorType.Int8: return reader.TryGetSByte(out ((sbyte[])target)[i]);
            case TensorType.UInt8: return reader.TryGetByte(out ((byte[])target)[i]);
            default: return false;
        }
    }

    /// <summary>A string token's value; invalid UTF-8 in it is the client's error, not the server's.</summary>
    private static string String(ref Utf8JsonReader reader, string what)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw Bad($"{what} is not valid UTF-8");
        }
    }

    private static RequestException Bad(string message) => RequestException.BadRequest(message);
}
