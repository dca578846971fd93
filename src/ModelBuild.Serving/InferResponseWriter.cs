using System.Text.Json;
using ModelBuild.Runtime;

namespace ModelBuild.Serving;

/// <summary>Writes a KServe v2 inference response with flat, row-major JSON data.</summary>
public static class InferResponseWriter
{
    public static void Write(Utf8JsonWriter w, string model, string? id, IReadOnlyList<ModelTensor> outputs, IReadOnlyList<string>? requested)
    {
        w.WriteStartObject();
        w.WriteString("model_name", model);
        w.WriteString("model_version", "1");
        if (id is not null) w.WriteString("id", id);
        w.WriteStartArray("outputs");
        foreach (var t in outputs)
        {
            if (requested is not null && !requested.Contains(t.Name)) continue;
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("datatype", KServeTypes.Name(t.Type));
            w.WriteStartArray("shape");
            foreach (var d in t.Shape) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteStartArray("data");
            WriteData(w, t.Data);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
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
