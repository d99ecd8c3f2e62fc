/**
 * Architecture names as users type them: the registry names, the Keras names of the reference
 * study and their variants in case, underscores and hyphens all map to the canonical name, in
 * every place a name is read (the registry, training configs, compare's list, the weights).
 */
import { describe, expect, it } from 'vitest';
import { parseArchs } from '../src/commands/compare.js';
import { ConfigError } from '../src/errors.js';
import { archSpec } from '../src/models/index.js';
import { ARCH_NAMES, type ArchName, REGISTRY, resolveArch } from '../src/models/registry.js';
import { weightsPath } from '../src/models/weights.js';
import { resolveTrainConfig } from '../src/train/config.js';

/** Canonical name → spellings users type (the Keras name first). */
const SPELLINGS: Record<ArchName, string[]> = {
  vgg16: ['VGG16', 'vgg16', 'Vgg_16', 'VGG-16'],
  resnet50: ['ResNet50', 'resnet50', 'RESNET_50', 'resnet-50'],
  inception_v3: ['InceptionV3', 'inceptionv3', 'inception_v3', 'Inception-V3', 'INCEPTION_V3'],
  mobilenet_v2: ['MobileNetV2', 'mobilenetv2', 'mobilenet_v2', 'MobileNet_V2', 'mobilenet-v2'],
  xception: ['Xception', 'xception', 'XCEPTION'],
  efficientnet_b0: ['EfficientNetB0', 'efficientnetb0', 'efficientnet_b0', 'EfficientNet-B0'],
  efficientnet_b2: ['EfficientNetB2', 'efficientnetb2', 'EFFICIENTNET_B2', 'efficientnet-b2'],
  efficientnet_b3: ['EfficientNetB3', 'efficientnetb3', 'Efficientnet_B3', 'efficientNet_b3'],
};

describe('architecture names', () => {
  it('covers every architecture of the registry, whose Keras title is one of the spellings', () => {
    expect(Object.keys(SPELLINGS).sort()).toEqual([...ARCH_NAMES].sort());
    for (const s of REGISTRY) expect(SPELLINGS[s.name][0]).toBe(s.title);
  });

  it.each(Object.entries(SPELLINGS) as [ArchName, string[]][])(
    '%s: every spelling resolves to the canonical name everywhere a name is read',
    (arch, spellings) => {
      for (const name of spellings) {
        expect(resolveArch(name)).toBe(arch);
        expect(archSpec(name).name).toBe(arch);
        expect(parseArchs(name)).toEqual([arch]);
        expect(weightsPath(name, '/w')).toBe(weightsPath(arch, '/w'));
        const size = Math.max(32, archSpec(arch).minSize);
        const config = resolveTrainConfig({ cache: 'c', split: 's', out: 'o', arch: name, size });
        expect(config.arch).toBe(arch);
      }
    },
  );

  it('parses a mixed list into canonical names and finds a duplicate spelled two ways', () => {
    expect(parseArchs('MobileNetV2, efficientnetb0,VGG16')).toEqual([
      'mobilenet_v2',
      'efficientnet_b0',
      'vgg16',
    ]);
    expect(parseArchs('ALL')).toEqual([...ARCH_NAMES]);
    expect(() => parseArchs('mobilenet_v2,MobileNetV2')).toThrow(
      '--archs lists an architecture twice: mobilenet_v2,MobileNetV2',
    );
  });

  it('names the value received and the accepted names for an unknown one', () => {
    expect(() => resolveArch('ResNet18')).toThrow(ConfigError);
    expect(() => resolveArch('ResNet18')).toThrow(
      `unknown architecture "ResNet18", expected one of ${ARCH_NAMES.join(', ')} or their Keras names VGG16, ResNet50, InceptionV3, MobileNetV2, Xception, EfficientNetB0, EfficientNetB2, EfficientNetB3 (any case, with or without underscores)`,
    );
    expect(() => resolveArch('efficientnet_b1', { field: '--arch' })).toThrow(
      /^--arch must be one of vgg16, .* EfficientNetB3 \(any case, with or without underscores\), received "efficientnet_b1"$/,
    );
    expect(() => weightsPath('lenet')).toThrow(/expected one of vgg16, .*underscores\), or all$/);
  });
});
