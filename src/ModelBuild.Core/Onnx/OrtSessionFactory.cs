using Microsoft.ML.OnnxRuntime;
using ModelBuild.Diagnostics;

namespace ModelBuild.Onnx;

/// <summary>Creates ONNX Runtime sessions the same way everywhere, so every artifact is judged alike.</summary>
public static class OrtSessionFactory
{
    /// <summary>
    /// One intra-op thread by default: on small CI machines more threads make latency swing wildly
    /// (measured up to 30× on 2 cores), and single-thread figures are comparable between runs.
    /// </summary>
    public static SessionOptions CreateOptions(int intraOpThreads = 1, GraphOptimizationLevel level = GraphOptimizationLevel.ORT_ENABLE_ALL)
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = intraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = level,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        return options;
    }

    public static InferenceSession Open(string modelPath, SessionOptions options, SourceLocation location)
    {
        try
        {
            return new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelBuildException(DiagnosticCodes.RuntimeRejectedModel,
                $"ONNX Runtime cannot load '{modelPath}': {FirstLine(e.Message)}", location, e);
        }
    }

    internal static string FirstLine(string message)
    {
        var line = message.Split('\n')[0].Trim();
        return line.Length > 400 ? line[..400] + "…" : line;
    }
}
