using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Agora.Formats.Gguf;

/// <summary>
/// One GGUF metadata value: a scalar, a string or an array (arrays may nest).
/// Arrays of scalars are held as one typed .NET array and arrays of strings as their UTF-8 bytes
/// (<see cref="GgufStrings"/>), not one object per element, because vocabularies carry hundreds of thousands of entries.
/// </summary>
public sealed class GgufValue : IEquatable<GgufValue>
{
    // Scalars keep their raw little-endian bits (sign-extended for signed types); strings and arrays use _object.
    readonly ulong _bits;
    readonly object? _object;
    // The file's bytes of a string that was not valid UTF-8 (its text holds U+FFFD), kept so that writing back loses
    // nothing; null when valid. (Arrays of strings keep their bytes anyway.)
    readonly byte[]? _invalidUtf8;

    public GgufValueType Type { get; }

    /// <summary>The element type of an array (<see cref="GgufValueType.Array"/> for arrays of arrays); meaningless otherwise.</summary>
    public GgufValueType ElementType { get; }

    GgufValue(GgufValueType type, ulong bits, object? obj = null, GgufValueType elementType = default, byte[]? invalidUtf8 = null)
    {
        Type = type;
        _bits = bits;
        _object = obj;
        ElementType = elementType;
        _invalidUtf8 = invalidUtf8;
    }

    // ---- factories ----

    public static GgufValue UInt8(byte v) => new(GgufValueType.UInt8, v);
    public static GgufValue Int8(sbyte v) => new(GgufValueType.Int8, (ulong)(long)v);
    public static GgufValue UInt16(ushort v) => new(GgufValueType.UInt16, v);
    public static GgufValue Int16(short v) => new(GgufValueType.Int16, (ulong)(long)v);
    public static GgufValue UInt32(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue Int32(int v) => new(GgufValueType.Int32, (ulong)(long)v);
    public static GgufValue UInt64(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufValue Int64(long v) => new(GgufValueType.Int64, (ulong)v);
    public static GgufValue Float32(float v) => new(GgufValueType.Float32, BitConverter.SingleToUInt32Bits(v));
    public static GgufValue Float64(double v) => new(GgufValueType.Float64, BitConverter.DoubleToUInt64Bits(v));
    public static GgufValue Bool(bool v) => new(GgufValueType.Bool, v ? 1UL : 0UL);
    public static GgufValue String(string v) => new(GgufValueType.String, 0, v ?? throw new ArgumentNullException(nameof(v)));

    /// <summary>A string read from a file; <paramref name="invalidUtf8"/> holds its bytes when they were not valid UTF-8.</summary>
    internal static GgufValue String(string text, byte[]? invalidUtf8) => new(GgufValueType.String, 0, text, invalidUtf8: invalidUtf8);

    public static GgufValue StringArray(IEnumerable<string> items) => StringArray(GgufStrings.Of(items.ToArray()));

    /// <summary>An array of strings held as their bytes.</summary>
    internal static GgufValue StringArray(GgufStrings items) => new(GgufValueType.Array, 0, items, GgufValueType.String);
    public static GgufValue Float32Array(IEnumerable<float> items) => TypedArray(GgufValueType.Float32, items.ToArray());
    public static GgufValue Int32Array(IEnumerable<int> items) => TypedArray(GgufValueType.Int32, items.ToArray());

    /// <summary>An array of <paramref name="elementType"/>; every item must be of that type (arrays for arrays of arrays).</summary>
    public static GgufValue Array(GgufValueType elementType, IEnumerable<GgufValue> items)
    {
        var list = items.ToArray();
        foreach (var item in list)
            if (item.Type != elementType)
                throw new ArgumentException($"an array of {Name(elementType)} cannot hold a {Name(item.Type)}", nameof(items));
        return elementType switch
        {
            GgufValueType.UInt8 => TypedArray(elementType, list.Select(v => (byte)v._bits).ToArray()),
            GgufValueType.Int8 => TypedArray(elementType, list.Select(v => (sbyte)v._bits).ToArray()),
            GgufValueType.UInt16 => TypedArray(elementType, list.Select(v => (ushort)v._bits).ToArray()),
            GgufValueType.Int16 => TypedArray(elementType, list.Select(v => (short)v._bits).ToArray()),
            GgufValueType.UInt32 => TypedArray(elementType, list.Select(v => (uint)v._bits).ToArray()),
            GgufValueType.Int32 => TypedArray(elementType, list.Select(v => (int)v._bits).ToArray()),
            GgufValueType.UInt64 => TypedArray(elementType, list.Select(v => v._bits).ToArray()),
            GgufValueType.Int64 => TypedArray(elementType, list.Select(v => (long)v._bits).ToArray()),
            GgufValueType.Float32 => TypedArray(elementType, list.Select(v => BitConverter.UInt32BitsToSingle((uint)v._bits)).ToArray()),
            GgufValueType.Float64 => TypedArray(elementType, list.Select(v => BitConverter.UInt64BitsToDouble(v._bits)).ToArray()),
            GgufValueType.Bool => TypedArray(elementType, list.Select(v => v._bits != 0).ToArray()),
            GgufValueType.String => StringArray(GgufStrings.Of(list.Length, i => list[i]._invalidUtf8 ?? Encoding.UTF8.GetBytes((string)list[i]._object!))),
            GgufValueType.Array => TypedArray(elementType, list),
            _ => throw new ArgumentOutOfRangeException(nameof(elementType), $"unknown GGUF value type {(uint)elementType}"),
        };
    }

    /// <summary>
    /// The one place an array of anything but strings is made: <paramref name="items"/> is the .NET array type that
    /// <see cref="ClrElementType"/> gives for <paramref name="elementType"/>; it is kept, not copied.
    /// </summary>
    internal static GgufValue TypedArray(GgufValueType elementType, System.Array items)
    {
        if (elementType == GgufValueType.String || items.GetType().GetElementType() != ClrElementType(elementType))
            throw new ArgumentException($"a GGUF array of {Name(elementType)} is not held as {items.GetType().Name}");
        return new GgufValue(GgufValueType.Array, 0, items, elementType);
    }

    internal static Type ClrElementType(GgufValueType type) => type switch
    {
        GgufValueType.UInt8 => typeof(byte), GgufValueType.Int8 => typeof(sbyte),
        GgufValueType.UInt16 => typeof(ushort), GgufValueType.Int16 => typeof(short),
        GgufValueType.UInt32 => typeof(uint), GgufValueType.Int32 => typeof(int),
        GgufValueType.UInt64 => typeof(ulong), GgufValueType.Int64 => typeof(long),
        GgufValueType.Float32 => typeof(float), GgufValueType.Float64 => typeof(double),
        GgufValueType.Bool => typeof(bool), GgufValueType.Array => typeof(GgufValue),
        _ => throw new ArgumentOutOfRangeException(nameof(type), $"unknown GGUF value type {(uint)type}"),
    };

    // ---- readers ----

    bool IsSigned => Type is GgufValueType.Int8 or GgufValueType.Int16 or GgufValueType.Int32 or GgufValueType.Int64;
    bool IsUnsigned => Type is GgufValueType.UInt8 or GgufValueType.UInt16 or GgufValueType.UInt32 or GgufValueType.UInt64;

    public bool IsInteger => IsSigned || IsUnsigned;
    public bool IsNumber => IsInteger || Type is GgufValueType.Float32 or GgufValueType.Float64;

    /// <summary>Elements of an array value.</summary>
    public int Count => _object switch
    {
        GgufStrings strings => strings.Count,
        System.Array array when Type == GgufValueType.Array => array.Length,
        _ => throw WrongType("an array"),
    };

    public string AsString() => Type == GgufValueType.String ? (string)_object! : throw WrongType("a string");

    /// <summary>Any integer type, checked for range.</summary>
    public long AsInt64()
    {
        if (IsSigned) return (long)_bits;
        if (IsUnsigned && _bits <= long.MaxValue) return (long)_bits;
        throw IsUnsigned ? OutOfRange("an int64") : WrongType("an integer");
    }

    /// <summary>Any integer type, checked for range.</summary>
    public ulong AsUInt64()
    {
        if (IsUnsigned) return _bits;
        if (IsSigned && (long)_bits >= 0) return _bits;
        throw IsSigned ? OutOfRange("a uint64") : WrongType("an integer");
    }

    /// <summary>Any numeric type.</summary>
    public double AsDouble() => Type switch
    {
        GgufValueType.Float32 => BitConverter.UInt32BitsToSingle((uint)_bits),
        GgufValueType.Float64 => BitConverter.UInt64BitsToDouble(_bits),
        _ when IsSigned => (long)_bits,
        _ when IsUnsigned => _bits,
        _ => throw WrongType("a number"),
    };

    public bool AsBool() => Type == GgufValueType.Bool ? _bits != 0 : throw WrongType("a bool");

    /// <summary>The elements of an array, one value each (made on each call; prefer the typed getters for big arrays).</summary>
    public IReadOnlyList<GgufValue> AsArray()
    {
        if (Type != GgufValueType.Array) throw WrongType("an array");
        return _object switch
        {
            GgufValue[] values => values,
            byte[] a => System.Array.ConvertAll(a, UInt8),
            sbyte[] a => System.Array.ConvertAll(a, Int8),
            ushort[] a => System.Array.ConvertAll(a, UInt16),
            short[] a => System.Array.ConvertAll(a, Int16),
            uint[] a => System.Array.ConvertAll(a, UInt32),
            int[] a => System.Array.ConvertAll(a, Int32),
            ulong[] a => System.Array.ConvertAll(a, UInt64),
            long[] a => System.Array.ConvertAll(a, Int64),
            float[] a => System.Array.ConvertAll(a, Float32),
            double[] a => System.Array.ConvertAll(a, Float64),
            bool[] a => System.Array.ConvertAll(a, Bool),
            GgufStrings a => Enumerable.Range(0, a.Count).Select(i => String(a[i], a.InvalidUtf8(i))).ToArray(),
            _ => throw new InvalidOperationException("unreachable: array storage"),
        };
    }

    public string[] AsStringArray() => Strings.ToArray();

    /// <summary>The items of an array of strings, as held (for the writer and for readers of big arrays).</summary>
    internal GgufStrings Strings => _object as GgufStrings ?? throw WrongType("an array of strings");

    public float[] AsFloat32Array() => _object is float[] a ? (float[])a.Clone() : throw WrongType("an array of float32");

    /// <summary>An array of any integer type whose values all fit in int32.</summary>
    public int[] AsInt32Array()
    {
        if (Type != GgufValueType.Array || _object is GgufValue[] or float[] or double[] or bool[] or GgufStrings)
            throw WrongType("an array of integers");
        if (_object is int[] ints) return (int[])ints.Clone();
        var source = (System.Array)_object!;
        var result = new int[source.Length];
        for (int i = 0; i < result.Length; i++)
        {
            var v = source.GetValue(i)!;
            long x = v is ulong u ? (u > int.MaxValue ? long.MaxValue : (long)u) : Convert.ToInt64(v, CultureInfo.InvariantCulture);
            if (x is < int.MinValue or > int.MaxValue) throw OutOfRange("an int32 array");
            result[i] = (int)x;
        }
        return result;
    }

    /// <summary>The stored array of anything but strings (<see cref="Strings"/>) without copying, for the writer.</summary>
    internal System.Array RawArray => _object is System.Array array && Type == GgufValueType.Array ? array : throw WrongType("an array of scalars or arrays");

    internal ulong RawBits => _bits;

    /// <summary>The file's bytes of a string that was not valid UTF-8, else null.</summary>
    internal byte[]? InvalidUtf8 => _invalidUtf8;

    // ---- equality and display ----

    /// <summary>Same type and same bits (floats compare bitwise, so NaN equals itself and 0 differs from -0).</summary>
    public bool Equals(GgufValue? other)
    {
        if (other is null || other.Type != Type) return false;
        if (!_invalidUtf8.AsSpan().SequenceEqual(other._invalidUtf8)) return false;
        if (Type == GgufValueType.String) return (string)_object! == (string)other._object!;
        if (Type != GgufValueType.Array) return _bits == other._bits;
        if (ElementType != other.ElementType) return false;
        return (_object, other._object) switch
        {
            (GgufValue[] a, GgufValue[] b) => a.AsSpan().SequenceEqual(b),
            (GgufStrings a, GgufStrings b) => a.Equals(b),
            (bool[] a, bool[] b) => a.AsSpan().SequenceEqual(b),
            (float[] a, float[] b) => MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b.AsSpan())),
            (double[] a, double[] b) => MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b.AsSpan())),
            (System.Array a, System.Array b) => a.Length == b.Length && Enumerable.Range(0, a.Length).All(i => Equals(a.GetValue(i), b.GetValue(i))),
            _ => false,
        };
    }

    public override bool Equals(object? obj) => Equals(obj as GgufValue);

    public override int GetHashCode() => HashCode.Combine(Type, ElementType, _bits, _object is System.Array a ? a.Length : _object?.GetHashCode() ?? 0);

    public override string ToString() => Type switch
    {
        GgufValueType.String => (string)_object!,
        GgufValueType.Bool => _bits != 0 ? "true" : "false",
        GgufValueType.Float32 or GgufValueType.Float64 => AsDouble().ToString("R", CultureInfo.InvariantCulture),
        GgufValueType.Array => $"[{Name(ElementType)} x {Count}]",
        _ when IsSigned => ((long)_bits).ToString(CultureInfo.InvariantCulture),
        _ => _bits.ToString(CultureInfo.InvariantCulture),
    };

    internal static string Name(GgufValueType type) => type switch
    {
        GgufValueType.Array => "array",
        _ when Enum.IsDefined(type) => type.ToString().ToLowerInvariant(),
        _ => $"type {(uint)type}",
    };

    string Describe() => Type == GgufValueType.Array ? $"an array of {Name(ElementType)}" : $"a {Name(Type)}";

    AgoraException WrongType(string expected) => new($"the GGUF value is {Describe()}, not {expected}");

    AgoraException OutOfRange(string expected) => new($"the GGUF value {this} ({Name(Type)}) does not fit in {expected}");
}
