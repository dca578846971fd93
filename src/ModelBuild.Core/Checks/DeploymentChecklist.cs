using ModelBuild.Data;
using ModelBuild.Diagnostics;
using ModelBuild.Manifest;
using ModelBuild.Onnx;
using ModelBuild.Execution;
using Onnx;
using ModelBuild.Results;

namespace ModelBuild.Checks;

/// <summary>
/// The deployment checklist (<c>checks.checklist: true</c>), each item a real check on the artifact itself:
/// <list type="bullet">
/// <item>eval_mode: no op runs in training mode (Dropout with training_mode, BatchNormalization training_mode=1);</item>
/// <item>bn_frozen: every BatchNormalization reads constant statistics (folded or frozen);</item>
/// <item>no_training_ops: no gradient/optimizer ops (ai.onnx.preview.training) and no random ops, whose outputs differ run to run;</item>
/// <item>input_shapes: ONNX Runtime refuses an input whose fixed dimensions are wrong (so bad requests fail loudly);</item>
/// <item>latency_budget, size_budget: the manifest declares a latency and a size check (budgets are the point of a checklist);</item>
/// <item>quantization_loss: a lossy variant (quantized, fp16, pruned) has an accuracy drop check to hold it to.</item>
/// </list>
/// Finite outputs and declared output ranges are checked for every artifact, checklist or not (see CheckRunner).
/// </summary>
public static class DeploymentChecklist
{
    private const string TrainingDomain = "ai.onnx.preview.training";
    private static readonly HashSet<string> RandomOps = new(StringComparer.Ordinal)
    {
        "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial",
    };

    public static void Judge(ArtifactReport artifact, string artifactPath, ModelSpec spec, ModelInterface modelInterface)
    {
        var checks = spec.Checks;
        if (!checks.Checklist) return;
        var at = checks.ChecklistLocation ?? spec.Location;
        var severity = checks.ChecklistSeverity;
        var model = OnnxModelFile.Load(artifactPath, at);
        var constants = model.Graph.Initializer.Select(i => i.Name)
            .Concat(model.Graph.Node.Where(n => n.OpType == "Constant").SelectMany(n => n.Output))
            .ToHashSet(StringComparer.Ordinal);

        var training = model.Graph.Node.Where(n => IsTrainingMode(n, constants)).Select(Describe).ToList();
        Item(artifact, "eval_mode", severity, at, training.Count == 0,
            training.Count == 0
                ? "no op runs in training mode"
                : $"ops run in training mode: {string.Join(", ", training)}; export the model after model.eval()");

        var liveBatchNorms = model.Graph.Node
            .Where(n => n.OpType == "BatchNormalization" && n.Input.Skip(1).Any(i => !constants.Contains(i)))
            .Select(Describe).ToList();
        var batchNormCount = model.Graph.Node.Count(n => n.OpType == "BatchNormalization");
        Item(artifact, "bn_frozen", severity, at, liveBatchNorms.Count == 0,
            liveBatchNorms.Count == 0
                ? batchNormCount == 0
                    ? "no BatchNormalization left (folded)"
                    : $"{batchNormCount} BatchNormalization op(s), all with constant statistics"
                : $"BatchNormalization reads non-constant statistics: {string.Join(", ", liveBatchNorms)}");

        var trainingOps = model.Graph.Node.Where(n => n.Domain == TrainingDomain || RandomOps.Contains(n.OpType)).Select(Describe).ToList();
        Item(artifact, "no_training_ops", severity, at, trainingOps.Count == 0,
            trainingOps.Count == 0 ? "no gradient, optimizer or random ops" : $"training-only or random ops: {string.Join(", ", trainingOps)}");

        var accepted = InputsAcceptingWrongShapes(artifactPath, modelInterface, at);
        Item(artifact, "input_shapes", severity, at, accepted.Count == 0,
            accepted.Count == 0
                ? "ONNX Runtime refuses inputs with wrong fixed dimensions"
                : $"the model accepts wrong shapes for {string.Join(", ", accepted)}; declare fixed dimensions in the model");

        Item(artifact, "latency_budget", severity, at, checks.Latency is not null,
            checks.Latency is null ? "no latency budget: add checks.latency" : "a latency budget is declared");
        Item(artifact, "size_budget", severity, at, checks.Size is not null,
            checks.Size is null ? "no size budget: add checks.size" : "a size budget is declared");
        if (!artifact.Lossless)
            Item(artifact, "quantization_loss", severity, at, checks.Accuracy?.MaxDrop is not null || checks.Accuracy?.MaxDropPercent is not null,
                "a lossy variant needs checks.accuracy.max_drop (or max_drop_percent) to bound its loss");
    }

    private static bool IsTrainingMode(NodeProto node, HashSet<string> constants) => node.OpType switch
    {
        "BatchNormalization" => node.Attribute.Any(a => a.Name == "training_mode" && a.I != 0) || node.Output.Count > 1,
        // Dropout's third input turns training on; a non-constant one could be true at run time.
        "Dropout" => node.Input.Count > 2 && node.Input[2].Length > 0,
        _ => false,
    };

    /// <summary>Feeds each input with one fixed non-batch dimension made one larger; a sound model must be refused.</summary>
    private static List<string> InputsAcceptingWrongShapes(string artifactPath, ModelInterface modelInterface, SourceLocation at)
    {
        var accepted = new List<string>();
        using var runner = new ModelRunner(artifactPath, at);
        for (var i = 0; i < modelInterface.Inputs.Count; i++)
        {
            var input = modelInterface.Inputs[i];
            var axis = Enumerable.Range(0, input.Dims.Count).Skip(1).FirstOrDefault(a => !input.Dims[a].IsDynamic, -1);
            if (axis < 0) continue;
            var feeds = new Dictionary<string, NdArray>(StringComparer.Ordinal);
            foreach (var other in modelInterface.Inputs)
            {
                var shape = SyntheticInputs.ShapeOf(other, 1);
                if (other.Name == input.Name) shape[axis] += 1;
                feeds[other.Name] = Zeros(other.ElementType, shape);
            }
            try
            {
                runner.Run(feeds);
                accepted.Add($"'{input.Name}' (axis {axis} = {input.Dims[axis].Size + 1})");
            }
            catch (ModelBuildException)
            {
                // Refused, as it should be.
            }
        }
        return accepted;
    }

    private static NdArray Zeros(TensorElementType type, long[] shape) =>
        new(type, shape, Array.CreateInstance(NdArray.ClrType(type), NdArray.ElementCount(shape)));

    private static void Item(ArtifactReport artifact, string item, Severity severity, SourceLocation at, bool passed, string message) =>
        CheckRunner.AddItem(artifact, severity, $"checklist.{item}", DiagnosticCodes.ChecklistFailed, passed, message, at);

    private static string Describe(NodeProto node) => string.IsNullOrEmpty(node.Name) ? node.OpType : $"'{node.Name}' ({node.OpType})";
}
