// swift-tools-version:6.0
import PackageDescription

/// Code generation for the host CPU. The hot loops (Philox, the Gaussian transform, the
/// element-wise activations) vectorise to AVX-512 with it and run 2–5× faster than on the
/// baseline x86-64 target; the manifest records the target. For a portable binary build
/// with `SIGNALPROP_PORTABLE=1` in the environment.
let portable = Context.environment["SIGNALPROP_PORTABLE"] != nil
let hostCPU: [SwiftSetting] = portable ? [] : [.unsafeFlags(["-target-cpu", "native"]), .define("SIGNALPROP_NATIVE")]
let fast: [SwiftSetting] = hostCPU + [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "SignalProp",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "signalprop", targets: ["signalprop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
    ],
    targets: [
        // MARK: - C bindings (no Swift API of their own)
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS",
                       providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]),

        // MARK: - Libraries
        .target(name: "MPI", dependencies: ["CMPI"]),
        .target(name: "Randomness", swiftSettings: fast),
        .target(name: "LinearAlgebra", dependencies: ["CBLAS", "Randomness"], swiftSettings: fast),
        .target(name: "MeanField", swiftSettings: fast),
        .target(name: "FreeProbability", dependencies: ["MeanField"], swiftSettings: fast),
        .target(name: "Ensembles", dependencies: ["LinearAlgebra", "Randomness", "MeanField", "FreeProbability"],
                swiftSettings: fast),
        .target(name: "GaussianProcess", dependencies: ["Ensembles", "LinearAlgebra", "MeanField"], swiftSettings: fast),
        .target(name: "Sweep", dependencies: ["Ensembles", "MeanField", "FreeProbability", "MPI",
                                             .product(name: "TOMLKit", package: "TOMLKit")],
                swiftSettings: fast),

        // MARK: - Command-line tool
        .executableTarget(name: "signalprop", dependencies: [
            "Sweep", "Ensembles", "MeanField", "FreeProbability", "GaussianProcess", "Randomness", "LinearAlgebra", "MPI",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),

        // MARK: - Tests
        .testTarget(name: "LinearAlgebraTests", dependencies: ["LinearAlgebra", "Randomness"]),
        .testTarget(name: "RandomnessTests", dependencies: ["Randomness"]),
        .testTarget(name: "MeanFieldTests", dependencies: ["MeanField"]),
        .testTarget(name: "FreeProbabilityTests", dependencies: ["FreeProbability", "MeanField"]),
        .testTarget(name: "EnsemblesTests", dependencies: ["Ensembles", "MeanField", "Randomness", "FreeProbability"]),
        .testTarget(name: "SweepTests", dependencies: ["Sweep", "MPI", "signalprop"]),
        .testTarget(name: "MPITests", dependencies: ["MPI"]),
        .testTarget(name: "GaussianProcessTests", dependencies: ["GaussianProcess", "Ensembles", "MeanField", "LinearAlgebra"]),
    ]
)
