/// A point mass of a spectral law: `weight` of the eigenvalues sit exactly at `location`.
public struct SpectralAtom: Sendable, Hashable, Codable {
    public var location: Double
    public var weight: Double

    public init(location: Double, weight: Double) {
        self.location = location
        self.weight = weight
    }
}

/// Why a free-probability spectrum could not be computed.
public struct SpectrumError: Error, CustomStringConvertible, Equatable {
    /// What failed, where, and with which values.
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { "free-probability spectrum: \(message)" }
}
