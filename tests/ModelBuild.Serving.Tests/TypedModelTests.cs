using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using ModelBuild.CodeGen;
using ModelBuild.Diagnostics;
using ModelBuild.Onnx;
using ModelBuild.Runtime;

namespace ModelBuild.Serving.Tests;

public sealed class TypedModelTests
{
    private static string Generate()
    {
        var location = new SourceLocation(ServerFixture.ModelPath, 1, 1);
        var modelInterface = ModelInterfaceReader.Read(OnnxModelFile.Load(ServerFixture.ModelPath), location);
        return TypedModelWriter.Write([new TypedModel("fashion", "base", modelInterface)]);
    }

    /// <summary>Compiles generated code (and app code beside it) as an app's build would.</summary>
    internal static (Assembly? Assembly, IReadOnlyList<string> Errors) Compile(string source)
    {
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(DeployedModel).Assembly.Location)
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create("Typed" + Guid.NewGuid().ToString("N"),
            [CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest))], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        using var stream = new MemoryStream();
        var result = compilation.Emit(stream);
        var errors = result.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()).ToList();
        return (result.Success ? Assembly.Load(stream.ToArray()) : null, errors);
    }

    [Fact]
    public void Generated_class_compiles_without_warnings_and_runs_the_model()
    {
        var source = Generate();
        Assert.Contains("public FashionModelOutput Run(float[] input, int batch = 1)", source);
        var (assembly, errors) = Compile(source);
        Assert.Empty(errors);

        var dir = Path.Combine(Path.GetTempPath(), "mb-typed-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(dir, "models", "fashion"));
        File.Copy(ServerFixture.ModelPath, Path.Combine(dir, "models", "fashion", "model.onnx"));
        try
        {
            var type = assembly!.GetType("ModelBuild.Models.FashionModel")!;
            using var model = (IDisposable)type.GetMethod("Load")!.Invoke(null, [dir, null])!;
            var output = type.GetMethod("Run")!.Invoke(model, [new float[2 * 784], 2])!;
            var logits = (float[])output.GetType().GetProperty("Logits")!.GetValue(output)!;
            Assert.Equal(20, logits.Length);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void App_code_written_against_an_older_interface_no_longer_compiles()
    {
        // An app that fed an int64 tensor "pixels" breaks at compile time against today's model.
        var app = "class App { static void Main() { using var m = ModelBuild.Models.FashionModel.Load(); m.Run(pixels: new long[784]); } }";
        var (_, errors) = Compile(Generate() + app);
        Assert.NotEmpty(errors);
    }

    [Fact]
    public void Odd_tensor_names_become_valid_identifiers()
    {
        var dims = new[] { Onnx.Dimension.Dynamic("n"), Onnx.Dimension.Dynamic("seq") };
        var odd = new ModelInterface(
            [new TensorInfo("input.1", Onnx.TensorElementType.Int64, dims), new TensorInfo("class", Onnx.TensorElementType.Bool, dims)],
            [new TensorInfo("out:0\n//", Onnx.TensorElementType.Float16, dims)]);
        var source = TypedModelWriter.Write([new TypedModel("my-model_2", "base", odd)]);
        Assert.Contains("class MyModel2Model", source);
        Assert.Contains("long[] input1, long[] input1Shape, bool[] @class, long[] @classShape", source);
        Assert.Empty(Compile(source).Errors);
    }

    [Fact]
    public void Tensor_names_that_map_to_one_identifier_get_numbered_members_and_compile()
    {
        var dims = new[] { Onnx.Dimension.Dynamic("batch"), Onnx.Dimension.Fixed(4) };
        TensorInfo F(string name) => new(name, Onnx.TensorElementType.Float32, dims);
        var clashing = new ModelInterface(
            [F("input.1"), F("input_1"), F("batch"), F("batch_input")],
            [F("x"), F("x_shape"), F("fashion_model_output")]);
        var source = TypedModelWriter.Write([new TypedModel("fashion", "base", clashing)]);
        Assert.Contains("Run(float[] input1, float[] input1_2, float[] batchInput, float[] batchInput_2, int batch = 1)", source);
        Assert.Contains("public static readonly long[] Input1_2Shape", source);
        Assert.Contains("public float[] XShape_2 { get; }", source);
        Assert.Contains("public float[] FashionModelOutput_2 { get; }", source);
        Assert.Empty(Compile(source).Errors);
    }
}
