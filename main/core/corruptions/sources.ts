/**
 * Where each generator family comes from: the one place the corruptions cite. `rws corrupt
 * --families` prints these next to each family.
 */
export const SOURCES = {
  'imagenet-c': 'Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019 (ImageNet-C / CIFAR-10-C, corruptions.py; CIFAR tuples where the images are small)',
  '3dcc': 'Kar et al., "3D Common Corruptions and Data Augmentation", CVPR 2022 (low_light)',
  albumentations: 'Buslaev et al., "Albumentations: Fast and Flexible Image Augmentations", Information 2020 (RandomRain)',
  koschmieder: 'Koschmieder, "Theorie der horizontalen Sichtweite", 1924; Narasimhan & Nayar, "Vision and the Atmosphere", IJCV 2002 (I = J·t + A·(1−t), t = exp(−β·d)); Sakaridis et al., "Semantic Foggy Scene Understanding with Synthetic Data", IJCV 2018 (visibility 150–600 m)',
  'sensor-noise': 'Foi et al., "Practical Poissonian-Gaussian Noise Modeling and Fitting for Single-Image Raw-Data", IEEE TIP 2008; Hasinoff et al., "Noise-Optimal Capture for High Dynamic Range Photography", CVPR 2010 (shot noise, read noise, full well)',
  'low-light-formation': 'Wei et al., "A Physics-based Noise Formation Model for Extreme Low-light Raw Denoising", CVPR 2020 (exposure cut in stops, Poisson shot noise, Gaussian read noise, quantisation)',
  'rain-streaks': 'Garg & Nayar, "Vision and Rain", IJCV 2007 (streak length and brightness from drop speed and exposure); Li et al., "Heavy Rain Image Restoration", CVPR 2019 (I = T·(J + ΣS) + (1−T)·A); Marshall & Palmer 1948 (rain rates 1–100 mm/h)',
  snowfall: 'Liu et al., "DesnowNet", IEEE TIP 2018 (snow = flakes of varied size and opacity over a veil); visibility in snowfall 2 km (light) to under 100 m (heavy) per WMO-No. 8',
  'camera-shake': 'Boracchi & Foi, "Modeling the Performance of Image Restoration from Motion Blur", IEEE TIP 2012 (random camera trajectories with inertia and impulsive shake, blur as exposure along the trajectory)',
  reside: 'Li et al., "Benchmarking Single-Image Dehazing and Beyond" (RESIDE), IEEE TIP 2019 (haze synthesised on display values with the scattering model, A ∈ [0.7, 1], β ∈ [0.04, 0.2] over estimated depth)',
  llnet: 'Lore, Akintayo & Sarkar, "LLNet: A Deep Autoencoder Approach to Natural Low-light Image Enhancement", Pattern Recognition 2017 (low light synthesised from daylight images by gamma darkening and additive Gaussian noise)',
  rain100: 'Yang et al., "Deep Joint Rain Detection and Removal from a Single Image", CVPR 2017 (the rain model O = α(B + ΣS) + (1 − α)A with rain accumulation; Rain100L/H streak layers smeared from sparse random seeds along one direction)',
  imgaug: 'Jung et al., imgaug (2020), imgaug.augmenters.weather.Snowflakes: layers of flakes, far to near, motion-blurred along the fall and alpha-blended over the image',
} as const;

export type SourceKey = keyof typeof SOURCES;
