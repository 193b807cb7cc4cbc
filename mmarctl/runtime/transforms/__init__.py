"""Clara 3.x transforms in NumPy (pre, label, post and batch transforms).

The contract is in :mod:`.base`. Each module holds one group; ``NAMES`` is the public
surface that configs reference. Nothing here imports TensorFlow: the input pipeline runs
these in worker threads.

Where a field's channel axis is: loaders record ``meta[field]["channel_axis"]`` (None or
-1) and ConvertToChannelsFirst/Last update it; a field with no record is channels first.
"""

#: Clara name -> "module:Class" (module relative to this package).
NAMES: dict[str, str] = {
    # loaders
    "LoadNifti": "loaders:LoadNifti",
    "LoadPng": "loaders:LoadPng",
    # channel layout
    "ConvertToChannelsFirst": "channels:ConvertToChannelsFirst",
    "ConvertToChannelsLast": "channels:ConvertToChannelsLast",
    "RepeatChannel": "channels:RepeatChannel",
    # intensity
    "ScaleIntensityRange": "intensity:ScaleIntensityRange",
    "NormalizeNonzeroIntensities": "intensity:NormalizeNonzeroIntensities",
    "CenterData": "intensity:CenterData",
    "ScaleIntensityOscillation": "augment_intensity:ScaleIntensityOscillation",
    "ScaleShiftIntensity": "augment_intensity:ScaleShiftIntensity",
    "AddGaussianNoise": "augment_intensity:AddGaussianNoise",
    "AdjustContrast": "augment_intensity:AdjustContrast",
    "RandomGaussianSmooth": "augment_intensity:RandomGaussianSmooth",
    "RandomSharpen": "augment_intensity:RandomSharpen",
    # resampling
    "ScaleByResolution": "resample:ScaleByResolution",
    "ScaleByFactor": "resample:ScaleByFactor",
    "ScaleToShape": "resample:ScaleToShape",
    "RestoreOriginalShape": "resample:RestoreOriginalShape",
    # spatial augmentation
    "RandomSpatialFlip": "augment_spatial:RandomSpatialFlip",
    "RandomAxisFlip": "augment_spatial:RandomAxisFlip",
    "RandomRotate2D": "augment_spatial:RandomRotate2D",
    "RandomRotate3D": "augment_spatial:RandomRotate3D",
    "RandomZoom": "augment_spatial:RandomZoom",
    # crops and padding
    "FastCropByPosNegRatio": "posneg:FastCropByPosNegRatio",
    "FastPosNegRatioCropROI": "posneg:FastPosNegRatioCropROI",
    "CropByPosNegRatio": "posneg:CropByPosNegRatio",
    "CropFixedSizeRandomCenter": "crops:CropFixedSizeRandomCenter",
    "CropSubVolumeCenter": "crops:CropSubVolumeCenter",
    "CropRandomSizeWithDisplacement": "crops:CropRandomSizeWithDisplacement",
    "PadCropWithFixedSize": "crops:PadCropWithFixedSize",
    "SymmetricPadderDiv": "crops:SymmetricPadderDiv",
    # label and post transforms
    "ArgmaxAcrossChannels": "labels:ArgmaxAcrossChannels",
    "ThresholdValues": "labels:ThresholdValues",
    "CopyProperties": "labels:CopyProperties",
    "SplitBasedOnLabel": "labels:SplitBasedOnLabel",
    "SplitAcrossChannels": "labels:SplitAcrossChannels",
    "ConvertToMultiChannelBasedOnBratsClasses": "labels:ConvertToMultiChannelBasedOnBratsClasses",
    "ProcessMulticlassPreds": "labels:ProcessMulticlassPreds",
    # annotation models
    "AddExtremePointsChannel": "extreme_points:AddExtremePointsChannel",
    # batch transforms
    "MergeBatchDims": "batch:MergeBatchDims",
    # debugging
    "SaveAsNifti": "debug:SaveAsNifti",
}
