using Google.Protobuf;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Targets;
using static ModelBuild.Core.Tests.Targets.Samples;

namespace ModelBuild.Core.Tests.Targets;

/// <summary>
/// Every generated config.pbtxt must parse with protoc's text-format parser against model_config.proto,
/// the way Triton parses it: a misspelt field, a wrong type or a bad enum name fails here, not at serving time.
/// </summary>
public class TritonConfigSchemaTests
{
    public static TheoryData<string> GeneratedConfigs()
    {
        var all = Enum.GetValues<TensorElementType>();
        var everyType = new ModelInterface(
            all.Select((t, i) => T($"in{i}", t, Dyn("batch"), D(2))).ToList(),
            all.Select((t, i) => T($"out{i}", t, Dyn("batch"))).ToList());
        var full = Spec(8, new DynamicBatchingSpec { MaxQueueDelayUs = 100, PreferredBatchSizes = [4, 8] },
            new InstanceGroupSpec(InstanceKind.Cpu, 2), new InstanceGroupSpec(InstanceKind.Gpu, 1));

        return new TheoryData<string>
        {
            TritonConfigWriter.Write("fashion", Cnn(), Spec(8), TritonPlatform.OnnxRuntime),
            TritonConfigWriter.Write("fashion", Cnn(), full, TritonPlatform.OnnxRuntime),
            TritonConfigWriter.Write("fashion", Cnn(), Spec(0), TritonPlatform.OnnxRuntime),
            TritonConfigWriter.Write("fashion", FixedBatchCnn(), null, TritonPlatform.OnnxRuntime),
            TritonConfigWriter.Write("fashion", Cnn(), full, TritonPlatform.PyTorchLibTorch),
            TritonConfigWriter.Write("types", everyType, Spec(4, new DynamicBatchingSpec()), TritonPlatform.OnnxRuntime),
            TritonConfigWriter.Write("scalars", new ModelInterface([T("s", TensorElementType.Float32)], [T("y", TensorElementType.Int64)]), null, TritonPlatform.OnnxRuntime),
        };
    }

    [Theory]
    [MemberData(nameof(GeneratedConfigs))]
    public void Generated_config_parses_as_a_triton_model_config(string config)
    {
        var result = Protoc.Encode(config);

        Assert.True(result.ExitCode == 0, $"protoc rejected the config:\n{result.Stderr}\n---\n{config}");
        Assert.NotEmpty(result.Stdout);
    }

    [Fact]
    public void Parsed_config_carries_the_values_we_meant()
    {
        var spec = Spec(8, new DynamicBatchingSpec { MaxQueueDelayUs = 100, PreferredBatchSizes = [4, 8] },
            new InstanceGroupSpec(InstanceKind.Cpu, 2));
        var config = TritonConfigWriter.Write("fashion", Cnn(), spec, TritonPlatform.OnnxRuntime);

        var encoded = Protoc.Encode(config);
        Assert.True(encoded.ExitCode == 0, encoded.Stderr);
        // protoc's own rendering of what it parsed: proves the values landed in the intended fields.
        var canonical = Protoc.Decode(encoded.Stdout);

        Assert.Contains("max_batch_size: 8", canonical);
        Assert.Contains("num_versions: 1", canonical);
        Assert.Contains("dims: 3\n  dims: 224\n  dims: 224", canonical.ReplaceLineEndings("\n"));
        Assert.Contains("preferred_batch_size: 4\n  preferred_batch_size: 8", canonical.ReplaceLineEndings("\n"));
        Assert.Contains("max_queue_delay_microseconds: 100", canonical);
        Assert.Contains("kind: KIND_CPU", canonical);
    }

    [Fact]
    public void Names_with_quotes_backslashes_and_non_ascii_survive_the_round_trip()
    {
        const string odd = "in\"put\\é_入力";
        var model = new ModelInterface([T(odd, TensorElementType.Float32, D(1))], [T("y", TensorElementType.Float32, D(1))]);
        var config = TritonConfigWriter.Write("m", model, null, TritonPlatform.OnnxRuntime);

        var encoded = Protoc.Encode(config);
        Assert.True(encoded.ExitCode == 0, encoded.Stderr);

        Assert.Equal(odd, FirstInputName(encoded.Stdout));
    }

    [Theory]
    [InlineData("unknown field", "name: \"m\"\nmax_batch_sise: 8\n")]
    [InlineData("string for an enum", "name: \"m\"\ninput [ { name: \"x\" data_type: \"FP32\" dims: [ 1 ] } ]\n")]
    [InlineData("unknown enum value", "name: \"m\"\ninput [ { name: \"x\" data_type: TYPE_FLOAT32 dims: [ 1 ] } ]\n")]
    [InlineData("fraction for an integer", "name: \"m\"\nmax_batch_size: 8.5\n")]
    [InlineData("batch axis as a string", "name: \"m\"\noutput [ { name: \"y\" data_type: TYPE_FP32 dims: [ \"batch\", 10 ] } ]\n")]
    [InlineData("kind misplaced on the input", "name: \"m\"\ninput [ { name: \"x\" kind: KIND_CPU } ]\n")]
    [InlineData("missing comma between list entries", "name: \"m\"\ninput [ { name: \"a\" } { name: \"b\" } ]\n")]
    public void Protoc_rejects_configs_triton_would_reject(string why, string config)
    {
        var result = Protoc.Encode(config);

        Assert.True(result.ExitCode != 0, $"protoc accepted a config with {why}");
        Assert.NotEmpty(result.Stderr);
    }

    // Reads ModelConfig.input[0].name (fields 5 and 1) straight from the wire format.
    private static string? FirstInputName(byte[] wire)
    {
        var top = new CodedInputStream(wire);
        for (uint tag; (tag = top.ReadTag()) != 0;)
        {
            if (WireFormat.GetTagFieldNumber(tag) != 5)
            {
                top.SkipLastField();
                continue;
            }
            var input = new CodedInputStream(top.ReadBytes().ToByteArray());
            for (uint inner; (inner = input.ReadTag()) != 0;)
            {
                if (WireFormat.GetTagFieldNumber(inner) == 1) return input.ReadString();
                input.SkipLastField();
            }
        }
        return null;
    }
}
