// Types of scripts/image-artifacts.mjs, for the tests that import it.
export declare const ARCHES: ReadonlyArray<{ binary: string; arch: string; short: string }>;
export declare const SYSEXT_LEVEL: string;
export declare const FAMILIES: Readonly<Record<string, string>>;
export declare function familyUnit(family: string): string;
export declare function sysextTree(dir: string, binary: string, arch: string): void;
export declare function buildImageArtifacts(opts: { packed: boolean; only?: string[] }): void;
