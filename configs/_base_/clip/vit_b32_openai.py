# The OADP teacher: OpenAI's CLIP ViT-B/32 through open_clip (keyword arguments of
# densekd.ovd.clip_teacher.ObjectAwareCLIP).
# `pretrained` is an open_clip tag ('openai' is downloaded once into the Hugging Face cache) or a
# LOCAL weights file, e.g. pretrained='data/clip/ViT-B-32-quickgelu-openai.safetensors', for
# machines without internet: copy the file from a machine that has it (open_clip.create_model(
# 'ViT-B-32-quickgelu', pretrained='openai') downloads it; save model.state_dict() with
# safetensors.torch.save_file). OpenAI's weights need the quickgelu variant of the model.
clip_teacher = dict(
    model_name='ViT-B-32-quickgelu',
    pretrained='openai',
    mask_bias=-100.0,
)
