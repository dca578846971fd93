using System.Text.Json;
using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>A parsed KServe v2 inference request.</summary>
public sealed record InferRequest(string? Id, IReadOnlyList<ModelTensor> Inputs, IReadOnlyList<string>? RequestedOutputs);

/// <summary>
/// Reads the JSON form of a KServe v2 inference request: <c>{"id", "inputs": [{"name", "shape", "datatype", "data"}],
/// "outputs": [{"name"}]}</c>. <c>data</c> may be flat or nested (row-major). Every problem is a
/// <see cref="RequestException"/> naming the field, so clients see what to fix.
/// </summary>
public static class InferRequestReader
{
    public static InferRequest Read(JsonElement root, DeployedModel model, long bodyBytes)
    {
        if (root.ValueKind != JsonValueKind.Object) throw Bad("the request body must be a JSON object");
        string? id = null;
        if (root.TryGetProperty("id", out var idElement))
            id = idElement.ValueKind == JsonValueKind.String ? idElement.GetString() : throw Bad("'id' must be a string");

        if (!root.TryGetProperty("inputs", out var inputs) || inputs.ValueKind != JsonValueKind.Array || inputs.GetArrayLength() == 0)
            throw Bad("'inputs' must be a non-empty array of {name, shape, datatype, data}");
        var tensors = new List<ModelTensor>();
        foreach (var input in inputs.EnumerateArray())
            tensors.Add(ReadTensor(input, model, bodyBytes));

        List<string>? outputs = null;
        if (root.TryGetProperty("outputs", out var outputsElement))
        {
            if (outputsElement.ValueKind != JsonValueKind.Array) throw Bad("'outputs' must be an array of {name}");
            outputs = new List<string>();
            foreach (var o in outputsElement.EnumerateArray())
            {
                var name = o.ValueKind == JsonValueKind.Object && o.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                    ? n.GetString()! : throw Bad("each of 'outputs' must be an object with a string 'name'");
                if (model.Outputs.All(s => s.Name != name))
                    throw Bad($"model '{model.Name}' has no output '{name}'; its outputs are {string.Join(", ", model.Outputs.Select(s => s.Name))}");
                if (o.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object && p.TryGetProperty("binary_data", out var b) && b.ValueKind == JsonValueKind.True)
                    throw Bad("binary tensor data is not supported; ask for JSON outputs");
                outputs.Add(name);
            }
        }
        return new InferRequest(id, tensors, outputs);
    }

    private static ModelTensor ReadTensor(JsonElement input, DeployedModel model, long bodyBytes)
    {
        if (input.ValueKind != JsonValueKind.Object) throw Bad("each of 'inputs' must be an object {name, shape, datatype, data}");
        var name = input.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : throw Bad("an input has no string 'name'");
        var spec = model.Input(name)
            ?? throw Bad($"model '{model.Name}' has no input '{name}'; its inputs are {string.Join(", ", model.Inputs.Select(i => i.Name))}");

        if (!input.TryGetProperty("datatype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw Bad($"input '{name}' has no string 'datatype' (expected {KServeTypes.Name(spec.Type)})");
        var type = KServeTypes.Parse(dt.GetString()!)
            ?? throw Bad($"input '{name}' has datatype '{dt.GetString()}', which this server does not support (expected {KServeTypes.Name(spec.Type)})");
        if (type != spec.Type)
            throw Bad($"input '{name}' has datatype {KServeTypes.Name(type)}, but model '{model.Name}' expects {KServeTypes.Name(spec.Type)}");

        if (!input.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw Bad($"input '{name}' has no 'shape' array (expected {spec.ShapeText})");
        var shape = new long[shapeElement.GetArrayLength()];
        long count = 1;
        var i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0)
                throw Bad($"input '{name}' has an invalid shape: dimensions must be non-negative integers");
            shape[i++] = v;
            // Each element takes at least one byte of the body, so a bigger count cannot match the data.
            count = v == 0 ? 0 : count > bodyBytes / v ? bodyBytes + 1 : count * v;
        }
        if (!spec.Accepts(shape))
            throw Bad($"input '{name}' has shape [{string.Join(",", shape)}], but model '{model.Name}' expects {spec.ShapeText}");
        if (count > bodyBytes)
            throw Bad($"input '{name}' has shape [{string.Join(",", shape)}] but the request is too small to hold that much data");

        if (input.TryGetProperty("parameters", out var p) && p.ValueKind == JsonValueKind.Object && p.TryGetProperty("binary_data_size", out _))
            throw Bad("binary tensor data is not supported; send 'data' as JSON");
        if (!input.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
            throw Bad($"input '{name}' has no 'data' array");

        var array = TensorTypes.NewArray(type, (int)count);
        var filled = 0;
        Fill(data, array, type, ref filled, name, 0);
        if (filled != count)
            throw Bad($"input '{name}' has {filled} data elements, but shape [{string.Join(",", shape)}] needs {count}");
        return new ModelTensor(name, array, shape);
    }

    private static void Fill(JsonElement element, Array target, TensorType type, ref int index, string name, int depth)
    {
        if (depth > 32) throw Bad($"input '{name}' has data nested too deep");
        foreach (var e in element.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.Array)
            {
                Fill(e, target, type, ref index, name, depth + 1);
                continue;
            }
            if (index >= target.Length) { index++; continue; }
            if (!Store(e, target, type, index))
                throw Bad($"input '{name}' data element {index} ({e.GetRawText()}) is not a valid {KServeTypes.Name(type)} value");
            index++;
        }
    }

    private static bool Store(JsonElement e, Array target, TensorType type, int i)
    {
        if (type == TensorType.Bool)
        {
            if (e.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) return false;
            ((bool[])target)[i] = e.GetBoolean();
            return true;
        }
        if (e.ValueKind != JsonValueKind.Number) return false;
        switch (type)
        {
            case TensorType.Float32: if (!e.TryGetDouble(out var f)) return false; ((float[])target)[i] = (float)f; return true;
            case TensorType.Float64: if (!e.TryGetDouble(out var d)) return false; ((double[])target)[i] = d; return true;
            case TensorType.Float16: if (!e.TryGetDouble(out var h)) return false; ((Half[])target)[i] = (Half)h; return true;
            case TensorType.Int64: if (!e.TryGetInt64(out var l)) return false; ((long[])target)[i] = l; return true;
            case TensorType.Int32: if (!e.TryGetInt32(out var n)) return false; ((int[])target)[i] = n; return true;
            case TensorType.Int8: if (!e.TryGetSByte(out var s)) return false; ((sbyte[])target)[i] = s; return true;
            case TensorType.UInt8: if (!e.TryGetByte(out var b)) return false; ((byte[])target)[i] = b; return true;
            default: return false;
        }
    }

    private static RequestException Bad(string message) => RequestException.BadRequest(message);
}
