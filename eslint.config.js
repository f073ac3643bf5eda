import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const serviceNames = [
  'ca',
  'agent',
  'policy',
  'topology',
  'telemetry-ingest',
  'detector',
  'enforcer',
  'console',
];
const serviceImports = serviceNames.map((name) => `@warden/${name}`);

export default tseslint.config(
  { ignores: ['**/node_modules/**', '.tools/**', '.warden/**', '.nx/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use a const object and a derived union type.' },
      ],
    },
  },
  {
    // A lib never imports a service (DESIGN §1).
    files: ['libs/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: serviceImports, message: 'A lib never imports a service.' },
            { group: ['**/services/**'] },
          ],
        },
      ],
    },
  },
  {
    // Services meet only on the bus and over gRPC, never by import.
    files: ['services/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: serviceImports, message: 'Services meet on the bus, not by import.' },
            { group: ['../../*/src/**', '**/services/**'], message: 'No deep imports across projects.' },
          ],
        },
      ],
    },
  },
);
