namespace ModelBuild.Serving;

/// <summary>A request the server refuses with a 4xx (or 503) status and a message for the client.</summary>
public sealed class RequestException(int statusCode, string message) : Exception(message)
{
    public int StatusCode { get; } = statusCode;

    public static RequestException BadRequest(string message) => new(StatusCodes.Status400BadRequest, message);
    public static RequestException NotFound(string message) => new(StatusCodes.Status404NotFound, message);
}
