using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>
/// Writes a KServe v2 inference response: flat, row-major JSON data, or for outputs asked for as binary, a
/// <c>parameters.binary_data_size</c> in the JSON and the raw little-endian bytes after it.
/// </summary>
public static class InferResponseWriter
{
    /// <summary>Writes the JSON part; returns the outputs whose bytes must follow it, in order.</summary>
    public static List<ModelTensor> Write(Utf8JsonWriter w, string model, string? id, IReadOnlyList<ModelTensor> outputs, InferRequest request)
    {
        var binary = new List<ModelTensor>();
        w.WriteStartObject();
        w.WriteString("model_name", model);
        w.WriteString("model_version", "1");
        if (id is not null) w.WriteString("id", id);
        w.WriteStartArray("outputs");
        foreach (var t in outputs)
        {
            var asBinary = request.BinaryByDefault;
            if (request.RequestedOutputs is { } requested)
            {
                var r = requested.FirstOrDefault(o => o.Name == t.Name);
                if (r is null) continue;
                // An output's own binary_data overrides the request's binary_data_output, either way.
                asBinary = r.Binary ?? asBinary;
            }
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("datatype", KServeTypes.Name(t.Type));
            w.WriteStartArray("shape");
            foreach (var d in t.Shape) w.WriteNumberValue(d);
            w.WriteEndArray();
            if (asBinary)
            {
                w.WriteStartObject("parameters");
                w.WriteNumber("binary_data_size", (long)t.Data.Length * TensorTypes.ElementSize(t.Type));
                w.WriteEndObject();
                binary.Add(t);
            }
            else
            {
                w.WriteStartArray("data");
                WriteData(w, t.Data);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        return binary;
    }

    /// <summary>Appends a tensor's bytes as the binary extension sends them (little-endian, BOOL one byte).</summary>
    public static void WriteBytes(IBufferWriter<byte> buffer, ModelTensor t)
    {
        var size = t.Data.Length * TensorTypes.ElementSize(t.Type);
        MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetArrayDataReference(t.Data), size).CopyTo(buffer.GetSpan(size));
        buffer.Advance(size);
    }

    // JSON has no NaN or infinity: those elements are written as null.
    private static void WriteData(Utf8JsonWriter w, Array data)
    {
        switch (data)
        {
            case float[] f: foreach (var v in f) { if (float.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue(); } break;
            case double[] d: foreach (var v in d) { if (double.IsFinite(v)) w.WriteNumberValue(v); else w.WriteNullValue(); } break;
            case Half[] h: foreach (var v in h) { if (Half.IsFinite(v)) w.WriteNumberValue((float)v); else w.WriteNullValue(); } break;
            case long[] l: foreach (var v in l) w.WriteNumberValue(v); break;
            case int[] n: foreach (var v in n) w.WriteNumberValue(v); break;
            case sbyte[] s: foreach (var v in s) w.WriteNumberValue(v); break;
            case byte[] b: foreach (var v in b) w.WriteNumberValue(v); break;
            case bool[] z: foreach (var v in z) w.WriteBooleanValue(v); break;
        }
    }
}
