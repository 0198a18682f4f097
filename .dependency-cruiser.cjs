// The layers of camd, as rules a tool checks (npm run lint:deps). Read bottom-up:
//   board/, drivers/            the hardware seams and their sims: know nothing of the daemon
//   src/core, src/domain        primitives and shared domain types: import no other src folder
//   platform                    state, config, supervisor (services, process runner), commands
//                               (the command table), control (the local socket), identity
//   features                    alarm, capture, cloud, detect, health, indicator, live, network,
//                               privacy, ptz, reset, storage: build on the platform, never on each
//                               other — except media, where live and storage read capture's
//                               outputs (capture never reads them back)
//   src/services.ts, main.ts    the composition root: the only place that names every feature
// Type-only imports count: a type is a dependency on a module's meaning.
const FEATURES = 'alarm|capture|cloud|daynight|detect|health|homeassistant|indicator|live|network|privacy|ptz|reset|rtsp|storage|time|update';
const PLATFORM = 'core|domain|state|config|supervisor|commands|control|identity';

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'No import cycles anywhere.', from: {}, to: { circular: true } },
    {
      name: 'hardware-knows-no-daemon',
      severity: 'error',
      comment: 'board/ and drivers/ are the hardware seam: they never import src/.',
      from: { path: '^(board|drivers)/' },
      to: { path: '^src/' },
    },
    {
      name: 'core-and-domain-are-leaves',
      severity: 'error',
      comment: 'src/core and src/domain import nothing else of src/ (board/ schema types are allowed in domain).',
      from: { path: '^src/(core|domain)/' },
      to: { path: '^src/', pathNot: '^src/(core|domain)/' },
    },
    {
      name: 'platform-knows-no-feature',
      severity: 'error',
      comment: 'The platform is what features build on; it never imports one.',
      from: { path: `^src/(${PLATFORM})/` },
      to: { path: `^src/(${FEATURES})/` },
    },
    {
      name: 'features-are-independent',
      severity: 'error',
      comment: 'A feature talks to another only through typed bus events, state and the command table; shared types live in src/domain.',
      from: { path: `^src/(${FEATURES})/` },
      // The media URL policy (and the address rules it applies) is one policy for every URL the
      // cloud hands over: storage's clip upload applies it too rather than a copy.
      to: { path: `^src/(${FEATURES})/`, pathNot: ['^src/$1/', '^src/capture/(types|relay|mic|args)\\.ts$', '^src/live/(url-policy|address)\\.ts$'] },
    },
    {
      name: 'capture-reads-no-consumer',
      severity: 'error',
      comment: 'Media flows one way: live and storage read capture; capture never imports them.',
      from: { path: '^src/capture/' },
      to: { path: '^src/(live|storage)/' },
    },
    {
      name: 'capture-outputs-are-for-media',
      severity: 'error',
      comment: "capture's relay and mic are media plumbing: only live, rtsp and storage may use them.",
      from: { path: `^src/(${FEATURES})/`, pathNot: '^src/(capture|live|rtsp|storage)/' },
      to: { path: '^src/capture/(relay|mic|args)\\.ts$' },
    },
    {
      name: 'only-the-root-names-features',
      severity: 'error',
      comment: 'Only src/services.ts (and main.ts through it) composes the features.',
      from: { path: '^src/(cli)/' },
      to: { path: `^src/(${FEATURES})/` },
    },
    {
      name: 'simview-is-a-tool',
      severity: 'error',
      comment: 'src/simview (the sim-view page, a development tool beside the daemon) talks to the daemon only through the control socket client.',
      from: { path: '^src/simview/' },
      to: { path: '^(src|drivers|board)/', pathNot: ['^src/simview/', '^src/cli/client\\.ts$', '^src/core/'] },
    },
    {
      name: 'daemon-knows-no-simview',
      severity: 'error',
      comment: 'Nothing of the daemon (or camctl) imports the sim-view tool.',
      from: { path: '^(src|drivers|board)/', pathNot: '^src/simview/' },
      to: { path: '^src/simview/' },
    },
    {
      name: 'src-not-tests-or-scripts',
      severity: 'error',
      comment: 'Production code never imports tests or scripts.',
      from: { path: '^(src|drivers|board)/' },
      to: { path: '^(test|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
